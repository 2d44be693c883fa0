import type { PgrigOptions } from '../../databases/run-databases.js'
import { PgrigError } from '../../errors.js'
import { CurrentDatabase } from '../lifecycle/current-database.js'
import { printForensics } from '../lifecycle/forensics.js'
import { oneLine } from '../lifecycle/one-line.js'
import type { PgrigProvided } from '../lifecycle/provided.js'
import type { ProxyOption } from '../lifecycle/proxy.js'
import { startRun, type StartedRun } from '../lifecycle/start-run.js'
import { TestLifecycle } from '../lifecycle/test-lifecycle.js'
import { CONCURRENT_TESTS, PGRIG_ENVIRONMENT, TEST_FAILED } from './test-state.js'

export type { PgrigOptions } from '../../databases/run-databases.js'
export type { TestDatabase } from '../../databases/test-database.js'
export type { ChaosProxy } from '../../chaos/proxy/proxy.js'
export type { CurrentDatabase } from '../lifecycle/current-database.js'
export type { ProxyOption } from '../lifecycle/proxy.js'
export type { TestRedis } from '../lifecycle/test-lifecycle.js'
export type { ProvidedService } from '../lifecycle/provided.js'

export interface UseTestDatabaseOptions {
  /**
   * A fresh fault-injection proxy in front of every test's database: `db.proxy` (`db.proxy.url`).
   * `true`, or its options (e.g. `{ tls: 'terminate' }`), as Vitest's `proxyOptions`.
   */
  proxy?: ProxyOption
}

/** How globalSetup tells Jest's workers about the run (JSON of PgrigProvided; no password in it). */
const PROVIDED_ENV = 'PGRIG_JEST'
const STATE = Symbol.for('pgrig.jest')

const usage = (message: string) => oneLine(new PgrigError('E_USAGE', message))

/**
 * Jest's globalSetup runs in the main process before any worker starts; workers inherit the
 * environment it leaves, which is how they find the broker.
 *   // jest.global-setup.mjs
 *   export default globalSetup({ migrations: './migrations' })
 */
export function globalSetup(options: PgrigOptions = {}): () => Promise<void> {
  return async () => {
    const run = await startRun(options)
    ;(globalThis as { [STATE]?: StartedRun })[STATE] = run
    process.env[PROVIDED_ENV] = JSON.stringify(run.provided)
  }
}

/** `export { globalTeardown as default } from 'pgrig/jest'` in jest.global-teardown.mjs. */
export async function globalTeardown(): Promise<void> {
  const holder = globalThis as { [STATE]?: StartedRun }
  const run = holder[STATE]
  holder[STATE] = undefined
  await run?.close()
}

type Hook = (fn: () => Promise<void>) => void
interface JestGlobals {
  beforeAll?: Hook
  beforeEach?: Hook
  afterEach?: Hook
  afterAll?: Hook
  expect?: { getState(): { currentTestName?: string } }
  [TEST_FAILED]?: boolean
  [PGRIG_ENVIRONMENT]?: boolean
  [CONCURRENT_TESTS]?: string[]
}

/**
 * Call at the top of a test file: every test gets its database (per `isolation`) behind the
 * returned handle, with DATABASE_URL and PG* pointing at it while it runs.
 */
export function useTestDatabase(options: UseTestDatabaseOptions = {}): CurrentDatabase {
  const jest = globalThis as unknown as JestGlobals
  const json = process.env[PROVIDED_ENV]
  if (!json || !jest.beforeAll || !jest.beforeEach || !jest.afterEach || !jest.afterAll) {
    throw usage(
      "useTestDatabase() needs pgrig's Jest globalSetup: set globalSetup to a file that exports globalSetup({ … }) from 'pgrig/jest'",
    )
  }
  if (!jest[PGRIG_ENVIRONMENT]) {
    throw usage(
      "useTestDatabase() needs testEnvironment 'pgrig/jest/environment' in the Jest config: it tells pgrig which tests failed (keepFailed, the server log) and which are test.concurrent",
    )
  }
  const provided = JSON.parse(json) as PgrigProvided
  const lifecycle = new TestLifecycle(provided, {
    runner: 'Jest',
    slot: process.env.JEST_WORKER_ID ?? '1',
    concurrencyFix: 'use test instead of test.concurrent (Jest workers still run files in parallel)',
  })
  const current = new CurrentDatabase({
    proxy: Boolean(options.proxy),
    proxyHint: 'useTestDatabase({ proxy: true })',
    redisHint: "globalSetup({ redis: true }) from 'pgrig/jest'",
  })
  jest.beforeAll(async () => {
    // Jest runs no beforeEach/afterEach for test.concurrent tests: they would get no database.
    const concurrent = jest[CONCURRENT_TESTS] ?? []
    if (concurrent.length > 0) {
      throw usage(
        `Jest runs test.concurrent tests ("${concurrent[0]}") side by side in one process, without beforeEach, and pgrig points process.env (DATABASE_URL, PG*) at one test's database at a time: use test instead of test.concurrent (Jest workers still run files in parallel)`,
      )
    }
  })
  jest.beforeEach(async () => {
    const name = jest.expect?.getState().currentTestName ?? 'unknown test'
    current.current = await lifecycle.begin(name, {
      proxy: options.proxy,
      redis: provided.redis !== undefined,
    })
  })
  jest.afterEach(async () => {
    const active = current.current
    current.current = undefined
    if (!active) return
    const forensics = await lifecycle.end(active, { failed: jest[TEST_FAILED] === true })
    if (forensics) printForensics(active.name, forensics)
  })
  jest.afterAll(async () => lifecycle.close())
  return current
}
