import { openTestDatabase } from '../test-database.js'
import type { IsolationStrategy } from './strategy.js'

/** `isolation: 'database'` (the default): every test gets a clone of the template of its own, from the pool. */
export const databaseMode: IsolationStrategy<'database'> = {
  name: 'database',
  summary: 'every test gets its own clone',
  keepsFailedDatabase: true,
  databasePerTest: true,
  openWorker: ({ broker }) => ({
    beforeEach: async () => {
      const lease = await broker.acquire()
      const db = await openTestDatabase(lease).catch(async (error: unknown) => {
        await broker.release(lease.name)
        throw error
      })
      return {
        db,
        lease,
        afterEach: async ({ keep }) => {
          try {
            await db.close()
          } finally {
            await broker.release(lease.name, { keep })
          }
        },
      }
    },
    close: () => Promise.resolve(),
  }),
}
