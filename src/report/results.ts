/**
 * The results file pgrig's reporter writes (`results.json`) and `mergeReports` reads: one run per
 * Vitest invocation (a PostgreSQL version, a shard), so merged reports keep a column per version.
 * Versioned: readers refuse a file whose `version` they do not know instead of misreading it.
 */
export const RESULTS_SCHEMA = 'pgrig-results'
export const RESULTS_VERSION = 1

export type TestStatus = 'passed' | 'failed' | 'allowed-failure' | 'skipped'

export interface ErrorRecord {
  name: string
  message: string
  /** Expected/actual difference as Vitest printed it, when the assertion had one. */
  diff: string | null
  stack: string | null
}

export interface TestRecord {
  /** Vitest's deterministic test id. */
  id: string
  /** Test file, relative to the Vitest root. */
  file: string
  /** Enclosing describe blocks, outermost first. */
  suite: string[]
  name: string
  categories: string[]
  status: TestStatus
  durationMs: number
  retries: number
  flaky: boolean
  /** Why a skipped test was skipped (policy, --only/--skip, `ctx.skip(note)`). */
  skipNote: string | null
  errors: ErrorRecord[]
  /** Time spent provisioning the test's database, when pgrig's fixtures recorded it. */
  provisionMs: number | null
  /** The server log lines written while the test ran, when pgrig's fixtures recorded them. */
  serverLog: string | null
  /** URL of a database kept for inspection after a failure (password redacted). */
  keptDatabaseUrl: string | null
}

export interface ServerEnvironment {
  name: string
  /** `server_version` as the server reports it; null when it could not be reached. */
  version: string | null
  profile: 'plain' | 'tls' | 'client-cert' | 'unknown'
  engine: string | null
  /** Host and port only; credentials are never recorded. */
  address: string
  /** Settings whose source is not PostgreSQL's built-in default. */
  settings: Record<string, string>
}

export interface Environment {
  pgrig: string
  vitest: string | null
  /** The runner when it is not Vitest, e.g. `pytest 7.2.1 (Python 3.11.2)` or `JUnit XML`; absent for Vitest. */
  runner?: string | null
  node: string
  os: string
  arch: string
  cpus: number
  ci: string | null
  servers: ServerEnvironment[]
}

export type RunOutcome = 'passed' | 'failed' | 'interrupted'

export interface RunRecord {
  /** Column label in merged reports: `pg17`, or `default` when no version was named. */
  label: string
  /** `PGRIG_PG_VERSION` if set, else the major of the server `PGPORT` points at, else of the first server, else null. */
  pgVersion: string | null
  /** Shard(s) that contributed, e.g. `["1/3", "2/3"]` after a merge. */
  shards: string[]
  startedAt: string
  durationMs: number
  /** `passed` when every failure is allowed to fail under the policy. */
  outcome: RunOutcome
  environment: Environment
  tests: TestRecord[]
  unhandledErrors: ErrorRecord[]
}

export interface PolicyRecord {
  mustPass: string[]
  allowedToFail: string[]
  skip: string[]
  only: string[]
  skipSelected: string[]
  timeouts: Record<string, number>
}

export interface PgrigResults {
  schema: typeof RESULTS_SCHEMA
  version: typeof RESULTS_VERSION
  createdAt: string
  policy: PolicyRecord
  runs: RunRecord[]
}

export interface StatusCounts {
  passed: number
  failed: number
  allowedFailures: number
  skipped: number
  total: number
}

export function countStatuses(tests: Iterable<TestRecord>): StatusCounts {
  const counts: StatusCounts = { passed: 0, failed: 0, allowedFailures: 0, skipped: 0, total: 0 }
  for (const test of tests) {
    counts.total++
    if (test.status === 'passed') counts.passed++
    else if (test.status === 'failed') counts.failed++
    else if (test.status === 'allowed-failure') counts.allowedFailures++
    else counts.skipped++
  }
  return counts
}

/** The whole report fails when any run fails; interrupted wins over failed. */
export function overallOutcome(results: PgrigResults): RunOutcome {
  if (results.runs.some((run) => run.outcome === 'interrupted')) return 'interrupted'
  return results.runs.some((run) => run.outcome === 'failed') ? 'failed' : 'passed'
}
