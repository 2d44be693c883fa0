import { after, afterEach, before, beforeEach } from 'node:test'
import { startSession, type PgrigOptions, type Session } from '../../databases/session.js'
import { CurrentDatabase, type ProxyOption } from '../current-database.js'
import { failureForensics, oneLine } from '../shared.js'

export type { PgrigOptions } from '../../databases/session.js'
export type { TestDatabase } from '../../databases/test-database.js'
export type { ChaosProxy } from '../../chaos/proxy/proxy.js'
export type { CurrentDatabase, ProxyOption } from '../current-database.js'

export interface UsePgrigOptions extends PgrigOptions {
  /**
   * A fresh fault-injection proxy in front of every test's database: `db.proxy` (`db.proxy.url`).
   * `true`, or its options (e.g. `{ tls: 'terminate' }`), as Vitest's `proxyOptions`.
   */
  proxy?: ProxyOption
}

/**
 * Call once at the top of a node:test file: every test in the file gets its own database behind
 * the returned handle. node:test runs each file in its own process, so run the suite under
 * `pgrig run -- node --test` to share one server (and one template) between files.
 */
export function usePgrig(options: UsePgrigOptions = {}): CurrentDatabase {
  const { proxy, ...sessionOptions } = options
  const current = new CurrentDatabase({ proxy, proxyHint: 'usePgrig({ proxy: true })' })
  let session: Session | undefined
  before(async () => {
    session = await startSession({ pool: { size: 2 }, ...sessionOptions }).catch((error: unknown) => {
      throw oneLine(error)
    })
  })
  beforeEach(async () => {
    await current.open(await session!.acquire())
  })
  afterEach(async (t) => {
    const lease = await current.close()
    if (!lease) return
    // Node 20.x's test context says whether the test passed; older contexts leave it undefined.
    const failed = (t as { passed?: boolean }).passed === false
    const keep = failed && options.keepFailed === true
    if (failed) {
      const { keptLine, serverLog } = failureForensics(lease, t.name, keep)
      if (keptLine) console.error(keptLine)
      if (serverLog) console.error(`pgrig: server log during "${t.name}":\n${serverLog}`)
    }
    session?.pool.release(lease.name, { keep })
  })
  after(async () => {
    await session?.close()
  })
  return current
}
