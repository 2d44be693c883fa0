import { testDatabaseOf } from '../test-database.js'
import type { TransactionIsolation } from '../transaction-mode.js'
import type { IsolationStrategy } from './strategy.js'
import { workerDatabases } from './worker-lease.js'

/**
 * `isolation: 'transaction'`: one database per worker; every connection to the worker's
 * transaction endpoint joins the test's one transaction, rolled back after the test.
 */
export const transactionMode: IsolationStrategy<'transaction'> = {
  name: 'transaction',
  summary: 'every test is rolled back',
  keepsFailedDatabase: false,
  databasePerTest: false,
  openWorker: (context) => {
    const worker = workerDatabases<TransactionIsolation>(context, {
      fresh: false,
      open: async (lease) => {
        // Loaded only by the mode that uses it: every worker file pays for what it imports.
        const { createTransactionIsolation } = await import('../transaction-mode.js')
        const transaction = await createTransactionIsolation({ url: lease.url, runId: context.runId })
        // db.client's connection and the code under test's join the test's transaction.
        return { state: transaction, url: transaction.url }
      },
      close: (transaction) => transaction.close(),
    })
    return {
      beforeEach: async () => {
        const { lease, client, state: transaction } = await worker.current()
        await transaction.beginTest()
        return {
          db: testDatabaseOf(lease, client),
          lease,
          afterEach: async () => void (await transaction.endTest()),
        }
      },
      close: () => worker.close(),
    }
  },
}
