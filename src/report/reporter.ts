import path from 'node:path'
import { stripVTControlCharacters } from 'node:util'
import type { SerializedError, UserConsoleLog } from 'vitest'
import type { Reporter, TestCase, TestModule, TestRunEndReason, TestSpecification, Vitest } from 'vitest/node'
import {
  categoriesOf,
  categoryDefinitions,
  failureAllowed,
  resolvePolicy,
  type CategoryPolicy,
} from './categories.js'
import { collectEnvironment, pgVersionOf, withServersUsed } from './environment.js'
import { createRedactor, knownPasswords, redactDeep, redactErrorInPlace } from './redact.js'
import {
  RESULTS_SCHEMA,
  RESULTS_VERSION,
  type Environment,
  type ErrorRecord,
  type PgrigResults,
  type PolicyRecord,
  type RunOutcome,
  type TestRecord,
} from './results.js'
import { writeReports } from './write.js'
import { SERVER_LOG_NOTE, type PgrigTaskMeta } from '../integrations/vitest/task-meta.js'

export type { PgrigTaskMeta }

export interface PgrigReporterOptions {
  /** Report folder; `PGRIG_REPORT_DIR` wins when set (the version matrix sets one per version). Default `pgrig-report`. */
  outDir?: string
  /** The category policy; read from `pgrig.config.*` (`policy`) when not given. */
  policy?: CategoryPolicy
  /** Print one line saying where the report went (default true). */
  log?: boolean
}

/** Where reports go: `PGRIG_REPORT_DIR`, else the option, else `pgrig-report`, relative to the Vitest root. */
export function reportDir(root: string, outDir?: string, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(root, env.PGRIG_REPORT_DIR || outDir || 'pgrig-report')
}

const MAX_LOG_CHARS = 20_000

/**
 * pgrig's Vitest reporter: writes results.json, report.md and report.html (and the GitHub step
 * summary), and applies the category policy to the exit code, so a run whose only failures are in
 * allowed-to-fail categories exits 0 while still reporting them.
 */
export class PgrigReporter implements Reporter {
  private vitest: Vitest | undefined
  private policyRecord: PolicyRecord | undefined
  private known = new Set<string>()
  private environment: Promise<Environment> | undefined
  private startedAt = Date.now()
  private readonly passwords = new Set<string>()
  private sortedPasswords: string[] = []
  private redact = createRedactor()

  constructor(private readonly options: PgrigReporterOptions = {}) {}

  onInit(vitest: Vitest): void {
    this.vitest = vitest
    this.startedAt = Date.now()
  }

  async onTestRunStart(_specifications: ReadonlyArray<TestSpecification>): Promise<void> {
    this.startedAt = Date.now()
    this.learnPasswords()
    let policy = this.options.policy
    if (!policy) {
      // Loaded only when needed: config validation pulls in zod, which a given policy does not need.
      const { loadConfig } = await import('../config/load.js')
      const loaded = await loadConfig(undefined, this.vitest?.config.root ?? process.cwd())
      policy = (loaded?.config as { policy?: CategoryPolicy } | undefined)?.policy ?? {}
    }
    this.policyRecord = resolvePolicy(policy)
    this.known = new Set(categoryDefinitions(policy).map((c) => c.name))
    // Asked now, answered while the tests run: the servers are up for the whole run.
    this.environment = collectEnvironment(process.env, this.vitest?.version ?? null)
  }

  /** Passwords known now join those known before: a server may be gone by the end of the run. */
  private learnPasswords(): void {
    for (const password of knownPasswords()) this.passwords.add(password)
    this.sortedPasswords = [...this.passwords].sort((a, b) => b.length - a.length)
    this.redact = createRedactor(this.sortedPasswords)
  }

  /** What tests print reaches every reporter (JUnit's system-out too): hidden before any of them keeps it. */
  onUserConsoleLog(log: UserConsoleLog): void {
    log.content = this.redact(log.content)
  }

  private error(error: Partial<SerializedError> & { diff?: string }): ErrorRecord {
    const text = (value: unknown) =>
      typeof value === 'string' ? this.redact(stripVTControlCharacters(value)) : null
    return {
      name: typeof error.name === 'string' ? error.name : 'Error',
      message: text(error.message) ?? String(error),
      diff: text(error.diff),
      stack: text(error.stack),
    }
  }

  private record(testCase: TestCase, root: string, policy: PolicyRecord): TestRecord {
    const suite: string[] = []
    for (let parent = testCase.parent; parent.type === 'suite'; parent = parent.parent)
      suite.unshift(parent.name)
    const categories = categoriesOf(testCase.tags ?? [], [...suite, testCase.name], this.known)
    const result = testCase.result()
    const diagnostic = testCase.diagnostic()
    const meta = testCase.meta().pgrig
    const failed = result.state === 'failed'
    const serverLog = meta?.serverLog ? this.redact(meta.serverLog).slice(-MAX_LOG_CHARS) : null
    return {
      id: testCase.id,
      file: path.relative(root, testCase.module.moduleId),
      suite,
      name: testCase.name,
      categories,
      status: failed
        ? failureAllowed(categories, policy)
          ? 'allowed-failure'
          : 'failed'
        : result.state === 'passed'
          ? 'passed'
          : 'skipped',
      durationMs: Math.round((diagnostic?.duration ?? 0) * 10) / 10,
      retries: diagnostic?.retryCount ?? 0,
      flaky: diagnostic?.flaky ?? false,
      skipNote: result.state === 'skipped' ? (result.note ?? null) : null,
      // The log is its own field: not a second time inside the message pgrig/vitest added it to.
      errors: failed ? result.errors.map((e) => this.error(withoutLogNote(e, meta?.serverLog))) : [],
      provisionMs: typeof meta?.provisionMs === 'number' ? meta.provisionMs : null,
      serverLog,
      keptDatabaseUrl: meta?.keptDatabaseUrl ? this.redact(meta.keptDatabaseUrl) : null,
    }
  }

  async onTestRunEnd(
    testModules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<SerializedError>,
    reason: TestRunEndReason,
  ): Promise<void> {
    this.learnPasswords()
    // Before the first await: reporters listed after this one (Vitest's junit) read the same objects.
    for (const module of testModules) {
      // The runtime task behind the reported module (not in Vitest's types): what junit.xml is written from.
      const task = (module as unknown as { task?: TaskLike }).task
      if (task) redactTaskInPlace(task, this.redact, this.sortedPasswords)
    }
    for (const error of unhandledErrors) redactErrorInPlace(error, this.sortedPasswords)
    const root = this.vitest?.config.root ?? process.cwd()
    const policy = this.policyRecord ?? resolvePolicy({})
    const tests = testModules.flatMap((module) =>
      [...module.children.allTests()].map((t) => this.record(t, root, policy)),
    )
    // Errors that belong to no test (a file that fails to import, a failing beforeAll) fail the run.
    const outside = [
      ...unhandledErrors.map((e) => this.error(e)),
      ...testModules.flatMap((module) => [
        ...module
          .errors()
          .map((e) => this.error({ ...e, message: `${path.relative(root, module.moduleId)}: ${e.message}` })),
        ...[...module.children.allSuites()].flatMap((suite) =>
          suite.errors().map((e) => this.error({ ...e, message: `${suite.fullName}: ${e.message}` })),
        ),
      ]),
    ]
    const disallowed = tests.some((t) => t.status === 'failed') || outside.length > 0
    const outcome: RunOutcome =
      reason === 'interrupted'
        ? 'interrupted'
        : disallowed || (reason === 'failed' && !tests.some((t) => t.status === 'allowed-failure'))
          ? 'failed'
          : 'passed'
    // Vitest has set exit code 1 for any failure before calling us; allowed failures alone must not fail the run.
    if (reason === 'failed' && outcome === 'passed') process.exitCode = 0

    const environment = await withServersUsed(
      await (this.environment ?? collectEnvironment(process.env, this.vitest?.version ?? null)),
    )
    const pgVersion = pgVersionOf(environment)
    const shard = this.vitest?.config.shard
    const results: PgrigResults = {
      schema: RESULTS_SCHEMA,
      version: RESULTS_VERSION,
      createdAt: new Date().toISOString(),
      policy,
      runs: [
        {
          label: pgVersion ? `pg${pgVersion}` : 'default',
          pgVersion,
          shards: shard ? [`${shard.index}/${shard.count}`] : [],
          startedAt: new Date(this.startedAt).toISOString(),
          durationMs: Date.now() - this.startedAt,
          outcome,
          environment,
          tests,
          unhandledErrors: outside,
        },
      ],
    }
    const outDir = reportDir(root, this.options.outDir)
    // Every string, the environment's too: a setting or a server address can carry a password.
    const files = writeReports(redactDeep(results, this.redact), outDir)
    if (this.options.log !== false) {
      const allowed = tests.filter((t) => t.status === 'allowed-failure').length
      const note = allowed
        ? `; ${allowed} failure${allowed === 1 ? '' : 's'} allowed by the policy did not fail the run`
        : ''
      const relative = path.relative(process.cwd(), files.html)
      process.stderr.write(`pgrig: report ${relative.startsWith('..') ? files.html : relative}${note}\n`)
    }
  }
}

interface TaskLike {
  result?: { errors?: unknown[] }
  logs?: { content: string }[]
  tasks?: TaskLike[]
}

function redactTaskInPlace(task: TaskLike, redact: (text: string) => string, passwords: string[]): void {
  for (const error of task.result?.errors ?? []) redactErrorInPlace(error, passwords)
  for (const log of task.logs ?? []) log.content = redact(log.content)
  for (const child of task.tasks ?? []) redactTaskInPlace(child, redact, passwords)
}

/** The note pgrig/vitest appends to a failed test's first error (attachForensics), minus the log. */
function withoutLogNote<E extends { message?: string }>(error: E, serverLog: string | undefined): E {
  const note = serverLog && `\n${SERVER_LOG_NOTE}\n${serverLog}`
  if (!note || typeof error.message !== 'string' || !error.message.includes(note)) return error
  return { ...error, message: error.message.replace(note, '').trimEnd() }
}
