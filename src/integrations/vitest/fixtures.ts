import type pg from 'pg'
import { inject, test as base, type TaskMeta } from 'vitest'
import type { ChaosProxy, ProxyOptions } from '../../chaos/proxy/proxy.js'
import { BrokerClient } from '../../databases/broker-client.js'
import type { Lease } from '../../databases/clone-pool.js'
import {
  connectClient,
  openTestDatabase,
  testDatabaseOf,
  type TestDatabase,
} from '../../databases/test-database.js'
import type { TransactionIsolation } from '../../databases/transaction-mode.js'
import type { TruncateIsolation } from '../../databases/truncate-mode.js'
import { PgrigError } from '../../errors.js'
import { failureForensics, type PgrigProvided } from '../shared.js'
import './provided.js'
import './task-meta.js'

export interface TestRedis {
  /** `redis://host:port/<index>`: this worker's logical database, flushed before each test. */
  url: string
  index: number
}

export interface PgrigFixtures {
  /** A database no other test sees, migrated and seeded (`database` mode), or the worker's database reset for this test. */
  db: TestDatabase
  redis: TestRedis
  /**
   * A fault-injection proxy in front of this test's database: `proxy.url` reaches `db` through it
   * (add toxics or statement faults to it); closed after the test.
   */
  proxy: ChaosProxy
  /**
   * How the `proxy` fixture is made (everything but `upstream`), `{}` by default; e.g.
   * `test.override({ proxyOptions: { tls: 'terminate' } })` for statement faults over TLS.
   */
  proxyOptions: Omit<ProxyOptions, 'upstream'>
}

let broker: BrokerClient | undefined

function connect(): { broker: BrokerClient; provided: PgrigProvided } {
  const provided = inject('pgrig')
  if (!provided) {
    throw new PgrigError(
      'E_USAGE',
      "pgrig's fixtures need its plugin: add plugins: [pgrig({ … })] from 'pgrig/vitest' to vitest.config",
    )
  }
  if (broker?.socketPath !== provided.socketPath) broker = new BrokerClient(provided.socketPath)
  return { broker, provided }
}

/** The worker slot: reused by later workers, never by two at once. */
const slot = () => process.env.VITEST_POOL_ID ?? '1'

/** Per worker process: its long-lived database and what resets it between tests. */
let worker:
  | {
      lease: Lease
      client: pg.Client
      truncate?: TruncateIsolation | undefined
      transaction?: TransactionIsolation | undefined
    }
  | undefined

async function workerState(broker: BrokerClient, provided: PgrigProvided) {
  const lease = await broker.workerDatabase(slot())
  if (worker?.lease.name !== lease.name) {
    const options = { url: lease.url, runId: provided.runId }
    // Loaded only by the mode that uses it: every worker file pays for what it imports.
    const truncate =
      provided.isolation === 'truncate'
        ? await (await import('../../databases/truncate-mode.js')).createTruncateIsolation(options)
        : undefined
    // Every connection to the endpoint's url, db.client's and the code under test's, joins the test's transaction.
    const transaction =
      provided.isolation === 'transaction'
        ? await (await import('../../databases/transaction-mode.js')).createTransactionIsolation(options)
        : undefined
    const client = await connectClient(transaction?.url ?? lease.url)
    worker = {
      lease: transaction ? { ...lease, url: transaction.url } : lease,
      client,
      truncate,
      transaction,
    }
  }
  return { ...worker, lease: { ...worker.lease, logOffset: lease.logOffset } }
}

interface FailedError {
  message?: string
}

function attachForensics(
  task: { name: string; meta: TaskMeta; result?: { state?: string; errors?: unknown[] } },
  lease: Lease,
  keep: boolean,
): void {
  const { keptLine, serverLog } = failureForensics(lease, task.name, keep)
  const meta = (task.meta.pgrig ??= {})
  const notes: string[] = []
  if (keptLine) {
    notes.push(keptLine)
    console.error(keptLine)
    meta.keptDatabaseUrl = lease.url
  }
  if (serverLog) {
    notes.push(`pgrig: server log during this test:\n${serverLog}`)
    meta.serverLog = serverLog
  }
  const first = task.result?.errors?.[0] as FailedError | undefined
  if (first && notes.length) first.message = `${first.message ?? ''}\n\n${notes.join('\n')}`
}

function extend() {
  return base.extend<PgrigFixtures>({
    db: async ({ task }, use) => {
      const { broker, provided } = connect()
      if (provided.isolation !== 'database') {
        const state = await workerState(broker, provided)
        if (state.truncate) await state.truncate.reset()
        const { transaction } = state
        if (transaction) {
          await transaction.beginTest()
          transaction.install()
        }
        try {
          await use(testDatabaseOf(state.lease, state.client))
        } finally {
          if (transaction) {
            transaction.uninstall()
            await transaction.endTest()
          }
          if (task.result?.state === 'fail') attachForensics(task, state.lease, false)
        }
        return
      }
      const asked = performance.now()
      const lease = await broker.acquire()
      let db: Awaited<ReturnType<typeof openTestDatabase>> | undefined
      try {
        db = await openTestDatabase(lease)
        ;(task.meta.pgrig ??= {}).provisionMs = Math.round((performance.now() - asked) * 100) / 100
        await use(db)
      } finally {
        await db?.close()
        const failed = task.result?.state === 'fail'
        const keep = failed && provided.keepFailed
        if (failed) attachForensics(task, lease, keep)
        await broker.release(lease.name, { keep })
      }
    },
    proxyOptions: {},
    proxy: async ({ db, proxyOptions }, use) => {
      const { createProxy } = await import('../../chaos/proxy/proxy.js')
      const proxy = await createProxy({ ...proxyOptions, upstream: db.url })
      try {
        await use(proxy)
      } finally {
        await proxy.close()
      }
    },
    // eslint-disable-next-line no-empty-pattern -- Vitest reads a fixture's dependencies from this pattern
    redis: async ({}, use) => {
      const { broker, provided } = connect()
      if (!provided.redis) {
        throw new PgrigError(
          'E_USAGE',
          'the redis fixture needs Redis: pass redis: true to pgrig() in vitest.config',
        )
      }
      const { host, port, databases } = provided.redis
      const index = (Number(slot()) % (databases - 1)) + 1
      await broker.post('/redis/flush', { index })
      await use({ url: `redis://${host.includes(':') ? `[${host}]` : host}:${port}/${index}`, index })
    },
  })
}

type PgrigTest = ReturnType<typeof extend>
let extended: PgrigTest | undefined
const real = (): PgrigTest => (extended ??= extend())

/**
 * Vitest's `test` with pgrig's fixtures. Built on first use: `pgrig/vitest` is also imported by
 * vitest.config.ts, where Vitest forbids `test.extend`.
 */
export const test: PgrigTest = new Proxy(function pgrigTest() {} as unknown as PgrigTest, {
  apply: (_target, thisArg, args: unknown[]) => Reflect.apply(real(), thisArg, args),
  get: (_target, key) => Reflect.get(real(), key),
  has: (_target, key) => Reflect.has(real(), key),
})
