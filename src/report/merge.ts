import fs from 'node:fs'
import path from 'node:path'
import { PgrigError } from '../errors.js'
import { createRedactor } from './redact.js'
import {
  RESULTS_SCHEMA,
  RESULTS_VERSION,
  type ErrorRecord,
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

export function readResults(input: string): PgrigResults {
  const file =
    fs.existsSync(input) && fs.statSync(input).isDirectory() ? path.join(input, REPORT_FILES.json) : input
  let raw: unknown
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'))
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (error as Error).message
    throw new PgrigError(
      'E_REPORT_INVALID',
      `cannot read ${file}: ${reason}; pass report folders written by pgrig's reporter`,
    )
  }
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
  return results as PgrigResults
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

function redactRecords(results: PgrigResults): PgrigResults {
  const redact = createRedactor()
  const error = (e: ErrorRecord): ErrorRecord => ({
    ...e,
    message: redact(e.message),
    diff: e.diff && redact(e.diff),
    stack: e.stack && redact(e.stack),
  })
  return {
    ...results,
    runs: results.runs.map((run) => ({
      ...run,
      unhandledErrors: run.unhandledErrors.map(error),
      tests: run.tests.map((t) => ({
        ...t,
        errors: t.errors.map(error),
        serverLog: t.serverLog && redact(t.serverLog),
        keptDatabaseUrl: t.keptDatabaseUrl && redact(t.keptDatabaseUrl),
      })),
    })),
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
  return redactRecords({
    schema: RESULTS_SCHEMA,
    version: RESULTS_VERSION,
    createdAt: new Date().toISOString(),
    policy: (all[0] as PgrigResults).policy,
    runs,
  })
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
