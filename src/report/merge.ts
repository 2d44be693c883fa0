import fs from 'node:fs'
import path from 'node:path'
import { isPgrigError, PgrigError } from '../errors.js'
import { readJunit } from './junit.js'
import { createRedactor, redactDeep } from './redact.js'
import {
  RESULTS_SCHEMA,
  RESULTS_VERSION,
  type PgrigResults,
  type RunRecord,
  type TestRecord,
} from './results.js'
import { writeReports, REPORT_FILES, type WrittenReport } from './write.js'

export interface MergeOptions {
  /** Report folders (holding results.json) or results.json files, e.g. one per shard and version. */
  inputs: string[]
  /** Where the combined results.json, report.md and report.html go. */
  outDir: string
  /** Append the combined summary to `GITHUB_STEP_SUMMARY` when that is set (default true). */
  stepSummary?: boolean
}

export interface MergeResult {
  results: PgrigResults
  files: WrittenReport
}

/** A report folder's results.json, else its junit.xml (a runner without pgrig's reporter), else the file itself. */
function resultsFile(input: string): string {
  if (!fs.existsSync(input) || !fs.statSync(input).isDirectory()) return input
  const json = path.join(input, REPORT_FILES.json)
  const junit = path.join(input, REPORT_FILES.junit)
  return !fs.existsSync(json) && fs.existsSync(junit) ? junit : json
}

/** Reads pgrig's results.json, or JUnit XML from any runner (a file that starts with `<`). */
export function readResults(input: string): PgrigResults {
  const file = resultsFile(input)
  let raw: unknown
  try {
    const text = fs.readFileSync(file, 'utf8')
    if (/^\uFEFF?\s*</.test(text)) return readJunit(file, text)
    raw = JSON.parse(text)
  } catch (error) {
    if (isPgrigError(error)) throw error
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (error as Error).message
    throw new PgrigError(
      'E_REPORT_INVALID',
      `cannot read ${file}: ${reason}; pass report folders written by pgrig's reporter, or JUnit XML files`,
    )
  }
  return checkResults(raw, file)
}

/** The parsed results, checked: pgrig's schema, a version this pgrig reads, every field a renderer needs. */
export function checkResults(raw: unknown, file: string): PgrigResults {
  const results = raw as Partial<PgrigResults>
  if (results?.schema !== RESULTS_SCHEMA || !Array.isArray(results.runs)) {
    throw new PgrigError(
      'E_REPORT_INVALID',
      `${file} is not a pgrig results file; pass folders written by pgrig's reporter`,
    )
  }
  if (results.version !== RESULTS_VERSION) {
    throw new PgrigError(
      'E_REPORT_INVALID',
      `${file} uses results format ${String(results.version)}, this pgrig reads ${RESULTS_VERSION}; merge with the pgrig version that wrote it`,
    )
  }
  const wrong = shapeProblem(results)
  if (wrong) {
    throw new PgrigError(
      'E_REPORT_INVALID',
      `${file} is damaged: ${wrong}; pass results.json files as pgrig's reporter wrote them (re-run that job)`,
    )
  }
  return results as PgrigResults
}

type Kind = 'string' | 'number' | 'boolean' | 'object' | 'array' | 'string?' | 'number?'

const RUN_SHAPE: Record<string, Kind> = {
  label: 'string',
  pgVersion: 'string?',
  shards: 'array',
  startedAt: 'string',
  durationMs: 'number',
  outcome: 'string',
  environment: 'object',
  tests: 'array',
  unhandledErrors: 'array',
}
const ENVIRONMENT_SHAPE: Record<string, Kind> = { servers: 'array' }
const SERVER_SHAPE: Record<string, Kind> = { name: 'string', address: 'string', settings: 'object' }
const TEST_SHAPE: Record<string, Kind> = {
  id: 'string',
  file: 'string',
  suite: 'array',
  name: 'string',
  categories: 'array',
  status: 'string',
  durationMs: 'number',
  errors: 'array',
  serverLog: 'string?',
  keptDatabaseUrl: 'string?',
}
const ERROR_SHAPE: Record<string, Kind> = {
  name: 'string',
  message: 'string',
  diff: 'string?',
  stack: 'string?',
}

function kindOf(value: unknown): string {
  if (value === null) return 'null'
  return Array.isArray(value) ? 'array' : typeof value
}

function fieldProblem(value: unknown, shape: Record<string, Kind>, where: string): string | undefined {
  if (kindOf(value) !== 'object') return `${where} is ${kindOf(value)}, expected an object`
  const record = value as Record<string, unknown>
  for (const [key, kind] of Object.entries(shape)) {
    const actual = kindOf(record[key])
    const optional = kind.endsWith('?')
    const wanted = optional ? kind.slice(0, -1) : kind
    if (actual === wanted || (optional && (actual === 'null' || actual === 'undefined'))) continue
    return `${where}.${key} is ${actual}, expected ${optional ? `${wanted} or null` : wanted === 'array' ? 'an array' : wanted === 'object' ? 'an object' : `a ${wanted}`}`
  }
  return undefined
}

/** The first field that a merge or a renderer would trip over, named by its path; undefined when the file is whole. */
function shapeProblem(results: Partial<PgrigResults>): string | undefined {
  if (kindOf(results.policy) !== 'object') return `policy is ${kindOf(results.policy)}, expected an object`
  for (const [r, run] of (results.runs ?? []).entries()) {
    const where = `runs[${r}]`
    const problem =
      fieldProblem(run, RUN_SHAPE, where) ??
      fieldProblem(run.environment, ENVIRONMENT_SHAPE, `${where}.environment`) ??
      run.environment.servers
        .map((server, i) => fieldProblem(server, SERVER_SHAPE, `${where}.environment.servers[${i}]`))
        .find(Boolean) ??
      run.tests
        .map(
          (test, t) =>
            fieldProblem(test, TEST_SHAPE, `${where}.tests[${t}]`) ??
            test.errors
              .map((e, i) => fieldProblem(e, ERROR_SHAPE, `${where}.tests[${t}].errors[${i}]`))
              .find(Boolean),
        )
        .find(Boolean) ??
      run.unhandledErrors
        .map((e, i) => fieldProblem(e, ERROR_SHAPE, `${where}.unhandledErrors[${i}]`))
        .find(Boolean)
    if (problem) return problem
  }
  return undefined
}

function mergeRuns(label: string, runs: RunRecord[]): RunRecord {
  const first = runs[0] as RunRecord
  const starts = runs.map((r) => Date.parse(r.startedAt))
  const ends = runs.map((r) => Date.parse(r.startedAt) + r.durationMs)
  const seen = new Set<string>()
  const tests: TestRecord[] = []
  // The same test in two shards of one version cannot happen; a re-run of a shard can, and its later result wins.
  for (const run of [...runs].reverse()) {
    for (const test of run.tests) {
      const key = `${test.file}\u0000${test.id}`
      if (seen.has(key)) continue
      seen.add(key)
      tests.push(test)
    }
  }
  tests.sort((a, b) => a.file.localeCompare(b.file) || a.id.localeCompare(b.id, undefined, { numeric: true }))
  const servers = new Map(
    runs.flatMap((r) => r.environment.servers).map((s) => [`${s.name}@${s.address}`, s]),
  )
  const outcomes = runs.map((r) => r.outcome)
  return {
    label,
    pgVersion: first.pgVersion,
    shards: [...new Set(runs.flatMap((r) => r.shards))].sort(),
    startedAt: new Date(Math.min(...starts)).toISOString(),
    durationMs: Math.max(...ends) - Math.min(...starts),
    outcome: outcomes.includes('interrupted')
      ? 'interrupted'
      : outcomes.includes('failed')
        ? 'failed'
        : 'passed',
    environment: { ...first.environment, servers: [...servers.values()] },
    tests,
    unhandledErrors: runs.flatMap((r) => r.unhandledErrors),
  }
}

/** Combines results, in memory: shards of one version become one run, each version stays its own column. */
export function combineResults(all: PgrigResults[]): PgrigResults {
  const groups = new Map<string, RunRecord[]>()
  for (const run of all.flatMap((r) => r.runs)) {
    const list = groups.get(run.label) ?? []
    list.push(run)
    groups.set(run.label, list)
  }
  const runs = [...groups.entries()]
    .map(([label, list]) => mergeRuns(label, list))
    .sort((a, b) => (Number(a.pgVersion) || 0) - (Number(b.pgVersion) || 0) || a.label.localeCompare(b.label))
  return redactDeep(
    {
      schema: RESULTS_SCHEMA,
      version: RESULTS_VERSION,
      createdAt: new Date().toISOString(),
      policy: (all[0] as PgrigResults).policy,
      runs,
    },
    createRedactor(),
  )
}

/**
 * Reads the results of several runs (shards, PostgreSQL versions) and writes one combined
 * results.json, report.md and report.html into `outDir`, with a column per version.
 */
export function mergeReports(options: MergeOptions): MergeResult {
  if (options.inputs.length === 0) {
    throw new PgrigError('E_USAGE', 'no reports to merge; pass the report folders of the runs')
  }
  const results = combineResults(options.inputs.map(readResults))
  const env = options.stepSummary === false ? { ...process.env, GITHUB_STEP_SUMMARY: undefined } : process.env
  const files = writeReports(results, options.outDir, env)
  return { results, files }
}
