import { createRequire } from 'node:module'
import fs from 'node:fs'
import path from 'node:path'
import type * as Fxp from 'fast-xml-parser'
import { PgrigError } from '../errors.js'
import { categoriesOf, categoryDefinitions, resolvePolicy } from './categories.js'
import {
  RESULTS_SCHEMA,
  RESULTS_VERSION,
  type ErrorRecord,
  type PgrigResults,
  type RunRecord,
  type TestRecord,
} from './results.js'

type Attributes = Record<string, string | undefined>
interface XmlProblem {
  name?: string
  message?: string
  type?: string
  '#text'?: string
}
interface XmlSuite {
  testsuite?: XmlSuite[]
  testcase?: (Attributes & { failure?: XmlProblem[]; error?: XmlProblem[]; skipped?: XmlProblem[] })[]
  [attribute: string]: unknown
}

let parser: Fxp.XMLParser | undefined
let validate: typeof Fxp.XMLValidator.validate | undefined

/** fast-xml-parser, loaded on the first JUnit file: most merges read only pgrig's JSON. */
function xml(): { parser: Fxp.XMLParser; validate: typeof Fxp.XMLValidator.validate } {
  if (!parser || !validate) {
    const fxp = createRequire(import.meta.url)('fast-xml-parser') as typeof Fxp
    parser = new fxp.XMLParser({
      ignoreAttributes: false,
      attributeNamePrefix: '',
      parseAttributeValue: false,
      parseTagValue: false,
      processEntities: true,
      htmlEntities: true,
      isArray: (name) => ['testsuite', 'testcase', 'failure', 'error', 'skipped'].includes(name),
    })
    validate = fxp.XMLValidator.validate
  }
  return { parser, validate }
}

/** `<failure message="…" type="…">stack</failure>` (or `<error>`, or a bare string) as an ErrorRecord. */
function problem(raw: XmlProblem | string, fallbackName: string): ErrorRecord {
  const node: XmlProblem = typeof raw === 'string' ? { '#text': raw } : raw
  const text = (node['#text'] ?? '').trim()
  return {
    name: node.type || fallbackName,
    message: node.message || text.split('\n')[0] || fallbackName,
    diff: null,
    stack: text || null,
  }
}

/** The label a JUnit file's run is filed under: a `pg<major>` folder on its path (`pgrig run --pg` writes one), else `default`. */
function labelOf(file: string): string | null {
  const major = path
    .resolve(file)
    .split(path.sep)
    .reverse()
    .map((part) => /^pg(\d+)$/.exec(part)?.[1])
    .find(Boolean)
  return major ?? null
}

/**
 * A JUnit XML file from any runner (pytest's `--junitxml`, Vitest's, Maven's, Go's) as pgrig results:
 * one run with a test per `<testcase>`; `[category]` markers in names give categories.
 */
export function readJunit(file: string, text: string): PgrigResults {
  const { parser, validate } = xml()
  const valid = validate(text)
  if (valid !== true) {
    throw new PgrigError(
      'E_REPORT_INVALID',
      `${file} is not well-formed XML (line ${valid.err.line}: ${valid.err.msg}); pass JUnit XML as the runner wrote it, or a pgrig report folder`,
    )
  }
  const doc = parser.parse(text) as { testsuites?: XmlSuite; testsuite?: XmlSuite[] }
  const top = doc.testsuites ?? (doc.testsuite ? { testsuite: doc.testsuite } : undefined)
  if (!top) {
    throw new PgrigError(
      'E_REPORT_INVALID',
      `${file} is XML but not JUnit (no <testsuites> or <testsuite> root); pass JUnit XML or a pgrig report folder`,
    )
  }
  const known = new Set(categoryDefinitions().map((c) => c.name))
  const tests: TestRecord[] = []
  let durationMs = 0
  let startedAt: string | undefined
  const walk = (suite: XmlSuite, names: string[], depth: number) => {
    const own = typeof suite.name === 'string' ? suite.name : ''
    if (depth === 1) {
      durationMs += Number(suite.time) * 1000 || 0
      startedAt ??= typeof suite.timestamp === 'string' ? suite.timestamp : undefined
    }
    const suiteNames = own && depth > 1 ? [...names, own] : names
    for (const testcase of suite.testcase ?? []) {
      const name = testcase.name ?? ''
      const classname = testcase.classname ?? ''
      const failures = [
        ...(testcase.failure ?? []).map((f) => problem(f, 'AssertionError')),
        ...(testcase.error ?? []).map((e) => problem(e, 'Error')),
      ]
      const skipped = testcase.skipped?.[0]
      const skipNote =
        skipped === undefined ? null : typeof skipped === 'string' ? skipped : (skipped.message ?? null)
      tests.push({
        id: `${classname}::${name}`,
        file: testcase.file ?? (typeof suite.file === 'string' ? suite.file : classname || own),
        suite: suiteNames,
        name,
        categories: categoriesOf([], [...suiteNames, name], known),
        status: failures.length > 0 ? 'failed' : skipped !== undefined ? 'skipped' : 'passed',
        durationMs: Math.round((Number(testcase.time) || 0) * 10_000) / 10,
        retries: 0,
        flaky: false,
        skipNote: skipped !== undefined ? skipNote || null : null,
        errors: failures,
        provisionMs: null,
        serverLog: null,
        keptDatabaseUrl: null,
      })
    }
    for (const child of suite.testsuite ?? []) walk(child, suiteNames, depth + 1)
  }
  walk(top, [], 0)
  const major = labelOf(file)
  const run: RunRecord = {
    label: major ? `pg${major}` : 'default',
    pgVersion: major,
    shards: [],
    startedAt:
      startedAt && !Number.isNaN(Date.parse(startedAt))
        ? new Date(startedAt).toISOString()
        : fs.statSync(file).mtime.toISOString(),
    durationMs: Math.round(durationMs),
    outcome: tests.some((t) => t.status === 'failed') ? 'failed' : 'passed',
    environment: {
      pgrig: 'unknown',
      vitest: null,
      runner: 'JUnit XML',
      node: 'unknown',
      os: 'unknown',
      arch: 'unknown',
      cpus: 0,
      ci: null,
      servers: [],
    },
    tests,
    unhandledErrors: [],
  }
  return {
    schema: RESULTS_SCHEMA,
    version: RESULTS_VERSION,
    createdAt: new Date().toISOString(),
    policy: resolvePolicy({}, {}),
    runs: [run],
  }
}
