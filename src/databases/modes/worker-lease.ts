import type pg from 'pg'
import type { Lease } from '../clone-pool.js'
import { connectClient } from '../test-database.js'
import type { WorkerContext } from './strategy.js'

/** A worker slot's long-lived database, as a mode that keeps one per worker holds it. */
export interface WorkerDatabase<State> {
  lease: Lease
  client: pg.Client
  /** What the mode opened on it (its reset, its transaction endpoint). */
  state: State
}

/**
 * The slot's database for one test: opened on the first test (and again when the pool hands the
 * slot another database), with the log offset of now, for the failed test's log slice.
 * `open` sets the mode up on a database and says where its client connects.
 */
export function workerDatabases<State>(
  context: WorkerContext,
  options: {
    /** A new worker takes a fresh clone (its resets go back to the template's state). */
    fresh: boolean
    open: (lease: Lease) => Promise<{ state: State; url?: string }>
    close: (state: State) => Promise<void> | undefined
  },
): { current: () => Promise<WorkerDatabase<State>>; close: () => Promise<void> } {
  let worker: WorkerDatabase<State> | undefined
  const closeWorker = async (closing: WorkerDatabase<State> | undefined) => {
    if (!closing) return
    await Promise.allSettled([closing.client.end(), options.close(closing.state)])
  }
  return {
    current: async () => {
      const lease = await context.broker.workerDatabase(context.slot, { fresh: !worker && options.fresh })
      if (worker?.lease.name !== lease.name) {
        await closeWorker(worker)
        worker = undefined
        const { state, url } = await options.open(lease)
        const client = await connectClient(url ?? lease.url).catch(async (error: unknown) => {
          await options.close(state)
          throw error
        })
        worker = { lease: url ? { ...lease, url } : lease, client, state }
      }
      return { ...worker, lease: { ...worker.lease, logOffset: lease.logOffset } }
    },
    close: async () => {
      const closing = worker
      worker = undefined
      await closeWorker(closing)
    },
  }
}
