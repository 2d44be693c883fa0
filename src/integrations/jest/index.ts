import type { PgrigOptions } from '../../databases/run-databases.js'
import { CurrentDatabase } from '../lifecycle/current-database.js'
import type { PgrigProvided } from '../lifecycle/provided.js'
import type { ProxyOption } from '../lifecycle/proxy.js'
import { concurrentTestsRefused, usage, type RunnerInfo } from '../lifecycle/runner-info.js'
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
  const info: RunnerInfo = {
    name: 'Jest',
    slot: process.env.JEST_WORKER_ID ?? '1',
    concurrencyFix: 'use test instead of test.concurrent (Jest workers still run files in parallel)',
    hints: {
      redis: "globalSetup({ redis: true }) from 'pgrig/jest'",
      proxy: 'useTestDatabase({ proxy: true })',
    },
  }
  const lifecycle = new TestLifecycle(provided, info)
  const current = new CurrentDatabase(info, options.proxy)
  jest.beforeAll(async () => {
    // Jest runs no beforeEach/afterEach for test.concurrent tests: they would get no database.
    const concurrent = jest[CONCURRENT_TESTS] ?? []
    if (concurrent.length > 0) {
      throw concurrentTestsRefused(
        `Jest runs test.concurrent tests ("${concurrent[0]}") side by side in one process, without beforeEach`,
        info.concurrencyFix,
      )
    }
  })
  jest.beforeEach(() =>
    current.beforeEach(lifecycle, jest.expect?.getState().currentTestName ?? 'unknown test'),
  )
  jest.afterEach(() => current.afterEach(lifecycle, { failed: jest[TEST_FAILED] === true }))
  jest.afterAll(async () => lifecycle.close())
  return current
}
