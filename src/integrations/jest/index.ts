import path from 'node:path'
import { BrokerClient } from '../../databases/broker-client.js'
import { startBroker, type Broker } from '../../databases/broker.js'
import { startSession, type PgrigOptions, type Session } from '../../databases/session.js'
import { PgrigError } from '../../errors.js'
import { CurrentDatabase, type ProxyOption } from '../current-database.js'
import { failureForensics, oneLine } from '../shared.js'
import { TEST_FAILED } from './test-state.js'

export type { PgrigOptions } from '../../databases/session.js'
export type { TestDatabase } from '../../databases/test-database.js'
export type { ChaosProxy } from '../../chaos/proxy/proxy.js'
export type { CurrentDatabase, ProxyOption } from '../current-database.js'

export interface UseTestDatabaseOptions {
  /**
   * A fresh fault-injection proxy in front of every test's database: `db.proxy` (`db.proxy.url`).
   * `true`, or its options (e.g. `{ tls: 'terminate' }`), as Vitest's `proxyOptions`.
   */
  proxy?: ProxyOption
}

const BROKER_ENV = 'PGRIG_BROKER'
const KEEP_FAILED_ENV = 'PGRIG_KEEP_FAILED'
const STATE = Symbol.for('pgrig.jest')

interface Running {
  session: Session
  broker: Broker
}

/**
 * Jest's globalSetup runs in the main process before any worker starts; workers inherit the
 * environment it leaves, which is how they find the broker.
 *   // jest.global-setup.mjs
 *   export default globalSetup({ migrations: './migrations' })
 */
export function globalSetup(options: PgrigOptions = {}): () => Promise<void> {
  return async () => {
    const session = await startSession(options).catch((error: unknown) => {
      throw oneLine(error)
    })
    try {
      const broker = await startBroker(session.pool, path.join(session.runDir, `broker-${process.pid}.sock`))
      ;(globalThis as { [STATE]?: Running })[STATE] = { session, broker }
      process.env[BROKER_ENV] = broker.socketPath
      if (options.keepFailed) process.env[KEEP_FAILED_ENV] = '1'
    } catch (error) {
      await session.close()
      throw error
    }
  }
}

/** `export { globalTeardown as default } from 'pgrig/jest'` in jest.global-teardown.mjs. */
export async function globalTeardown(): Promise<void> {
  const holder = globalThis as { [STATE]?: Running }
  const running = holder[STATE]
  holder[STATE] = undefined
  await running?.broker.close()
  await running?.session.close()
}

type Hook = (fn: () => Promise<void>) => void

/** Call at the top of a test file: every test gets its own database behind the returned handle. */
export function useTestDatabase(options: UseTestDatabaseOptions = {}): CurrentDatabase {
  const hooks = globalThis as unknown as { beforeEach?: Hook; afterEach?: Hook; afterAll?: Hook }
  const socket = process.env[BROKER_ENV]
  if (!socket || !hooks.beforeEach || !hooks.afterEach || !hooks.afterAll) {
    throw new PgrigError(
      'E_USAGE',
      "useTestDatabase() needs pgrig's Jest globalSetup: set globalSetup to a file that exports globalSetup({ … }) from 'pgrig/jest'",
    )
  }
  const broker = new BrokerClient(socket)
  const current = new CurrentDatabase({ proxy: options.proxy, proxyHint: 'useTestDatabase({ proxy: true })' })
  hooks.beforeEach(async () => {
    await current.open(await broker.acquire())
  })
  hooks.afterEach(async () => {
    const lease = await current.close()
    if (!lease) return
    // Known only under testEnvironment 'pgrig/jest/environment'; otherwise every test counts as passed.
    const failed = (globalThis as Record<symbol, unknown>)[TEST_FAILED] === true
    const keep = failed && process.env[KEEP_FAILED_ENV] === '1'
    if (failed) {
      const name = (
        globalThis as { expect?: { getState(): { currentTestName?: string } } }
      ).expect?.getState().currentTestName
      const { keptLine, serverLog } = failureForensics(lease, name ?? 'unknown test', keep)
      if (keptLine) console.error(keptLine)
      if (serverLog) console.error(`pgrig: server log during "${name}":\n${serverLog}`)
    }
    await broker.release(lease.name, { keep })
  })
  hooks.afterAll(async () => broker.close())
  return current
}
