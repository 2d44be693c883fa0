import type pg from 'pg'
import type { BrokerClient } from '../../databases/broker-client.js'
import type { Lease } from '../../databases/clone-pool.js'
import { connectClient } from '../../databases/test-database.js'
import type { TransactionIsolation } from '../../databases/transaction-mode.js'
import type { TruncateIsolation } from '../../databases/truncate-mode.js'
import type { PgrigProvided } from './provided.js'

/** A test process's long-lived database (`truncate`, `transaction`) and what resets it between tests. */
export interface WorkerDatabase {
  /** In transaction mode its url is the transaction endpoint's. */
  lease: Lease
  client: pg.Client
  truncate?: TruncateIsolation | undefined
  transaction?: TransactionIsolation | undefined
}

let worker: WorkerDatabase | undefined

/**
 * The worker slot's database, opened once per process (the same slot gets the same database
 * from the broker), with the log offset of now, for the failed test's log slice.
 */
export async function workerDatabase(
  broker: BrokerClient,
  provided: PgrigProvided,
  slot: string,
): Promise<WorkerDatabase> {
  // A new worker in truncate mode takes a fresh clone: its resets go back to the template's state.
  const lease = await broker.workerDatabase(slot, { fresh: !worker && provided.isolation === 'truncate' })
  if (worker?.lease.name !== lease.name) {
    const options = { url: lease.url, runId: provided.runId }
    // Loaded only by the mode that uses it: every worker file pays for what it imports.
    const truncate =
      provided.isolation === 'truncate'
        ? await (
            await import('../../databases/truncate-mode.js')
          ).createTruncateIsolation({ ...options, exclude: provided.exclude })
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

/** Ends what workerDatabase() opened in this process (the database itself is the pool's to drop). */
export async function closeWorkerDatabase(): Promise<void> {
  const closing = worker
  worker = undefined
  if (!closing) return
  await Promise.allSettled([closing.client.end(), closing.truncate?.close(), closing.transaction?.close()])
}
