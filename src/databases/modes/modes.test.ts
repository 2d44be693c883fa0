import fs from 'node:fs'
import path from 'node:path'
import { expect, test } from 'vitest'
import { checkIsolationOptions, isolationModes, isolationStrategy } from './index.js'

const SRC = path.resolve(import.meta.dirname, '..', '..')
const NAMES = isolationModes().map((m) => m.name)

/**
 * A mode's name compared as a value: `=== 'truncate'`, `'truncate' !==`, `case 'truncate'`,
 * `.includes('truncate')`, and the isolation option compared with anything but undefined.
 */
function comparisons(source: string): string[] {
  const name = `['"\`](?:${NAMES.join('|')})['"\`]`
  const patterns = [
    new RegExp(`[!=]==?\\s*${name}`),
    new RegExp(`${name}\\s*[!=]==?`),
    new RegExp(`\\bcase\\s+${name}`),
    new RegExp(`\\.includes\\(\\s*${name}`),
    /\.isolation\s*[!=]==?\s*(?!undefined\b)/,
    /[!=]==?\s*[\w?]*\??\.isolation\b/,
  ]
  return source.split('\n').filter((line) => patterns.some((p) => p.test(line)))
}

/**
 * chaos/ imports only servers/ and pg-wire/ (docs/ARCHITECTURE.md), so it cannot see pgrig's
 * modes: its `isolation` is a transaction isolation level or pgProperty's case isolation.
 */
const otherConcept = (file: string) => file.startsWith('chaos/')

test('the grep finds the comparisons the lifecycle used to make', () => {
  for (const line of [
    "if (this.provided.isolation === 'database') {",
    "const keep = outcome.failed && this.provided.keepFailed && this.provided.isolation === 'database'",
    "fresh: !worker && provided.isolation === 'truncate'",
    "if (options.exclude?.length && mode !== 'truncate') {",
    "case 'transaction':",
    "'database' === options.isolation",
    "if (MODES.includes('truncate'))",
    'if (provided.isolation !== DEFAULT) return',
  ]) {
    expect(comparisons(line), line).toEqual([line])
  }
  expect(comparisons("summary: 'every test is rolled back',")).toEqual([])
  expect(comparisons("`use isolation 'truncate'`")).toEqual([])
})

test('no mode name is compared outside its strategy file', () => {
  const files = fs
    .readdirSync(SRC, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(ts|mts)$/.test(f) && !/\.test\.ts$/.test(f))
  expect(files.length).toBeGreaterThan(100)
  const found: string[] = []
  for (const file of files) {
    const rel = file.split(path.sep).join('/')
    if (otherConcept(rel)) continue
    const own = /^databases\/modes\/([\w-]+)\.ts$/.exec(rel)?.[1]
    for (const line of comparisons(fs.readFileSync(path.join(SRC, file), 'utf8'))) {
      // A strategy file may name itself; nothing else may name a mode in a comparison.
      if (own && NAMES.includes(own) && !NAMES.filter((n) => n !== own).some((n) => line.includes(`'${n}'`)))
        continue
      found.push(`src/${rel}: ${line.trim()}`)
    }
  }
  expect(found).toEqual([])
})

test('options are checked once, in one line each', () => {
  expect(isolationStrategy(undefined).name).toBe('database')
  expect(() => isolationStrategy('rollback')).toThrow(
    "isolation \"rollback\" is not a mode; use 'database', 'transaction', 'truncate', 'reset'",
  )
  expect(() => checkIsolationOptions({ isolation: 'transaction', keepFailed: true })).toThrow(
    "keepFailed keeps a failed test's own database, which isolation 'transaction' does not give a test (every test is rolled back); use isolation 'database' to keep failed databases",
  )
  expect(() => checkIsolationOptions({ exclude: ['tenants'] })).toThrow(
    "exclude names tables a truncate reset leaves alone, and isolation 'database' resets nothing that way (every test gets its own clone): drop exclude, or use isolation 'truncate'",
  )
  expect(() => checkIsolationOptions({ isolation: 'transaction', exclude: ['tenants'] })).toThrow(
    "isolation 'transaction' resets nothing that way (every test is rolled back)",
  )
  expect(checkIsolationOptions({ isolation: 'truncate', exclude: ['tenants'] }).name).toBe('truncate')
  expect(checkIsolationOptions({ exclude: [] }).name).toBe('database')
})
