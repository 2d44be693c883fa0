/**
 * Vitest setup file added by pgrig's plugin: skips, before any fixture is built, the tests the
 * policy and `PGRIG_ONLY` / `PGRIG_SKIP` leave out, with the reason as the skip note.
 */
import { beforeEach, inject } from 'vitest'
import { categoriesOf, skipReason } from './categories.js'
import type { PolicyRecord } from './results.js'

declare module 'vitest' {
  interface ProvidedContext {
    pgrigPolicy: PolicyRecord
    pgrigCategories: string[]
  }
}

const policy = inject('pgrigPolicy')
const known = new Set(inject('pgrigCategories') ?? [])

beforeEach((context) => {
  if (!policy) return
  const names: string[] = [context.task.name]
  for (let suite = context.task.suite; suite; suite = suite.suite) names.push(suite.name)
  const reason = skipReason(categoriesOf(context.task.tags ?? [], names, known), policy)
  if (reason) context.skip(reason)
})
