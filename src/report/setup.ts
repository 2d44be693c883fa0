/**
 * Vitest setup file added by pgrig's plugin. Before each test: skips, before any fixture is
 * built, the tests the policy and `PGRIG_ONLY` / `PGRIG_SKIP` leave out, with the reason as the
 * skip note. After each test: hides passwords in its errors here in the worker, so no reporter
 * (console, JUnit, pgrig's own) ever receives them.
 */
import { afterEach, beforeEach, inject } from 'vitest'
import { categoriesOf, skipReason } from './categories.js'
import { formatWithOptions } from 'node:util'
import { createRedactor, knownPasswords, redactErrorInPlace } from './redact.js'
import type { PolicyRecord } from './results.js'

declare module 'vitest' {
  interface ProvidedContext {
    pgrigPolicy: PolicyRecord
    pgrigCategories: string[]
  }
}

const policy = inject('pgrigPolicy')
const known = new Set(inject('pgrigCategories') ?? [])
const passwords = knownPasswords()
const redact = createRedactor(passwords)

// Hooks destructure their context: Vitest refuses a plain parameter once a test file uses fixtures.
beforeEach(({ task, skip }) => {
  if (!policy) return
  const names: string[] = [task.name]
  for (let suite = task.suite; suite; suite = suite.suite) names.push(suite.name)
  const reason = skipReason(categoriesOf(task.tags ?? [], names, known), policy)
  if (reason) skip(reason)
})

afterEach(({ task }) => {
  for (const error of task.result?.errors ?? []) redactErrorInPlace(error, passwords)
})

// What tests print (console.log(db.url)) reaches every reporter and junit.xml: hide passwords on the way.
const CONSOLE_METHODS = ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const
for (const method of CONSOLE_METHODS) {
  const original = console[method].bind(console)
  console[method] = (...args: unknown[]) => original(redact(formatWithOptions({ colors: false }, ...args)))
}
