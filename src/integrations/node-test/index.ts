import { after, afterEach, before, beforeEach } from 'node:test'
import type { PgrigOptions } from '../../databases/run-databases.js'
import { CurrentDatabase } from '../lifecycle/current-database.js'
import type { ProxyOption } from '../lifecycle/proxy.js'
import type { RunnerInfo } from '../lifecycle/runner-info.js'
import { startRun, type StartedRun } from '../lifecycle/start-run.js'
import { TestLifecycle } from '../lifecycle/test-lifecycle.js'

export type { PgrigOptions } from '../../databases/run-databases.js'
export type { TestDatabase } from '../../databases/test-database.js'
export type { ChaosProxy } from '../../chaos/proxy/proxy.js'
export type { CurrentDatabase } from '../lifecycle/current-database.js'
export type { ProxyOption } from '../lifecycle/proxy.js'
export type { TestRedis } from '../lifecycle/test-lifecycle.js'
export type { ProvidedService } from '../lifecycle/provided.js'

export interface UsePgrigOptions extends PgrigOptions {
  /**
   * A fresh fault-injection proxy in front of every test's database: `db.proxy` (`db.proxy.url`).
   * `true`, or its options (e.g. `{ tls: 'terminate' }`), as Vitest's `proxyOptions`.
   */
  proxy?: ProxyOption
}

const NODE_TEST: RunnerInfo = {
  name: 'node:test',
  // node:test runs each file in a process of its own.
  slot: '1',
  concurrencyFix: 'drop the concurrency option from the tests of this file (files still run in parallel)',
  hints: { redis: 'usePgrig({ redis: true })', proxy: 'usePgrig({ proxy: true })' },
}

/**
 * Call once at the top of a node:test file: every test in the file gets its database (per
 * `isolation`) behind the returned handle, with DATABASE_URL and PG* pointing at it while it
 * runs. node:test runs each file in its own process, so run the suite under
 * `pgrig run -- node --test` to share one server (and one template) between files.
 */
export function usePgrig(options: UsePgrigOptions = {}): CurrentDatabase {
  const { proxy, ...runOptions } = options
  const current = new CurrentDatabase(NODE_TEST, proxy)
  let run: StartedRun | undefined
  let lifecycle: TestLifecycle | undefined
  before(async () => {
    run = await startRun({ pool: { size: 2 }, ...runOptions })
    lifecycle = new TestLifecycle(run.provided, NODE_TEST)
  })
  beforeEach(async (t) => {
    if (lifecycle) await current.beforeEach(lifecycle, t.name)
  })
  // Node 20.x's test context says whether the test passed; older contexts leave it undefined.
  afterEach((t) => current.afterEach(lifecycle, { failed: (t as { passed?: boolean }).passed === false }))
  after(async () => {
    await lifecycle?.close()
    await run?.close()
  })
  return current
}
