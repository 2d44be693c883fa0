import { inject, test as base } from 'vitest'
import { BrokerClient } from '../../databases/broker-client.js'
import { readLogSlice } from '../../databases/log-slice.js'
import { openTestDatabase, type TestDatabase } from '../../databases/test-database.js'
import { redactUrl } from '../../cluster/server-info.js'
import { PgrigError } from '../../errors.js'
import './provided.js'

export interface PgrigFixtures {
  /** A database no other test sees, migrated and seeded. */
  db: TestDatabase
}

let broker: BrokerClient | undefined

function connect(): { broker: BrokerClient; provided: ReturnType<typeof inject<'pgrig'>> } {
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

interface FailedError {
  message?: string
}

function extend() {
  return base.extend<PgrigFixtures>({
    db: async ({ task }, use) => {
      const { broker, provided } = connect()
      if (provided.isolation !== 'database') {
        throw new PgrigError(
          'E_USAGE',
          `isolation '${provided.isolation}' is not available in this build; use isolation: 'database'`,
        )
      }
      const lease = await broker.acquire()
      let db: Awaited<ReturnType<typeof openTestDatabase>> | undefined
      try {
        db = await openTestDatabase(lease)
        await use(db)
      } finally {
        await db?.close()
        const failed = task.result?.state === 'fail'
        const keep = failed && provided.keepFailed
        if (failed) {
          const notes: string[] = []
          if (keep) {
            const line = `pgrig: kept database ${lease.name} of failed test "${task.name}": ${lease.url}`
            notes.push(line.replace(lease.url, redactUrl(lease.url)))
            console.error(line)
          }
          const log = readLogSlice(lease.logFile, lease.logOffset).trimEnd()
          if (log) notes.push(`pgrig: server log during this test:\n${log}`)
          const first = task.result?.errors?.[0] as FailedError | undefined
          if (first && notes.length) first.message = `${first.message ?? ''}\n\n${notes.join('\n')}`
        }
        await broker.release(lease.name, { keep })
      }
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
