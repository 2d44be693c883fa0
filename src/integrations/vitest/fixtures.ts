import { inject, test as base, type TaskMeta, type TestAPI } from 'vitest'
import type { ChaosProxy, ProxyOptions } from '../../chaos/proxy/proxy.js'
import type { TestDatabase } from '../../databases/test-database.js'
import { PgrigError } from '../../errors.js'
import type { Forensics } from '../lifecycle/forensics.js'
import { startTestProxy } from '../lifecycle/proxy.js'
import type { ProvidedService } from '../lifecycle/provided.js'
import { TestLifecycle, type ActiveTest, type TestRedis } from '../lifecycle/test-lifecycle.js'
import './provided.js'
import { printablePgClients } from './printable-pg.js'
import { SERVER_LOG_NOTE } from './task-meta.js'

export interface PgrigFixtures {
  /**
   * A database no other test sees, migrated and seeded (`database` mode), or the worker's database
   * reset for this test; DATABASE_URL and PG* point at it while the test runs.
   */
  db: TestDatabase
  redis: TestRedis
  /** The run's services by name (the `services` option): `services.minio.env.S3_ENDPOINT_URL`, `.port`, `.dir`. */
  services: Record<string, ProvidedService>
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

let lifecycle: TestLifecycle | undefined

function connect(): TestLifecycle {
  const provided = inject('pgrig')
  if (!provided) {
    throw new PgrigError(
      'E_USAGE',
      "pgrig's fixtures need its plugin: add plugins: [pgrig({ … })] from 'pgrig/vitest' to vitest.config",
    )
  }
  if (lifecycle?.provided.socketPath !== provided.socketPath) {
    void lifecycle?.close()
    lifecycle = new TestLifecycle(provided, {
      name: 'Vitest',
      // The worker slot: reused by later workers, never by two at once.
      slot: process.env.VITEST_POOL_ID ?? '1',
      concurrencyFix:
        "drop test.concurrent / describe.concurrent from the tests of pgrig/vitest's test (Vitest still runs files in parallel)",
      hints: { redis: 'pgrig({ redis: true }) in vitest.config', proxy: 'the proxy fixture' },
    })
  }
  return lifecycle
}

interface FailedError {
  message?: string
}

/** The forensics go into the first error's message (what every reporter shows) and task.meta.pgrig. */
function attachForensics(
  task: { meta: TaskMeta; result?: { errors?: unknown[] } },
  forensics: Forensics,
  keptUrl: string,
): void {
  const { keptLine, serverLog } = forensics
  const meta = (task.meta.pgrig ??= {})
  const notes: string[] = []
  if (keptLine) {
    // Once, in the first error's message (every reporter prints it), not also on stderr.
    notes.push(keptLine)
    meta.keptDatabaseUrl = keptUrl
  }
  if (serverLog) {
    notes.push(`${SERVER_LOG_NOTE}\n${serverLog}`)
    meta.serverLog = serverLog
  }
  const first = task.result?.errors?.[0] as FailedError | undefined
  if (first && notes.length) first.message = `${first.message ?? ''}\n\n${notes.join('\n')}`
}

/** The test pgrig began for this test; not part of the typed context (reach it through `db`). */
interface PgrigTestFixture {
  pgrigTest: ActiveTest
}

function extend(): TestAPI<PgrigFixtures> {
  const extended = base.extend<PgrigFixtures & PgrigTestFixture>({
    /**
     * Automatic, so it is set up before the test's first beforeEach (Vitest resolves a test's auto
     * fixtures before each hook and the body) and torn down after its last afterEach (fixtures end
     * after the hooks): DATABASE_URL and PG* point at the test's database in every hook, whether or
     * not anything asks for db.
     */
    pgrigTest: [
      async ({ task }, use) => {
        const lifecycle = connect()
        const active = await lifecycle.begin(task.name, { concurrent: task.concurrent === true })
        // The code under test has loaded its pg by now (at import, as a rule).
        printablePgClients()
        if (active.provisionMs !== undefined) (task.meta.pgrig ??= {}).provisionMs = active.provisionMs
        try {
          await use(active)
        } finally {
          const forensics = await lifecycle.end(active, { failed: task.result?.state === 'fail' })
          if (forensics) attachForensics(task, forensics, active.lease.url)
        }
      },
      { auto: true },
    ],
    db: async ({ pgrigTest }, use) => {
      await use(pgrigTest.db)
    },
    proxyOptions: {},
    proxy: async ({ db, proxyOptions }, use) => {
      const proxy = await startTestProxy(db.url, proxyOptions)
      try {
        await use(proxy)
      } finally {
        await proxy.close()
      }
    },
    // eslint-disable-next-line no-empty-pattern -- Vitest reads a fixture's dependencies from this pattern
    redis: async ({}, use) => {
      await use(await connect().redis())
    },
    // eslint-disable-next-line no-empty-pattern -- Vitest reads a fixture's dependencies from this pattern
    services: async ({}, use) => {
      await use(connect().services)
    },
  })
  return extended as unknown as TestAPI<PgrigFixtures>
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
