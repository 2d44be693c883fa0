import { testDatabaseOf } from '../test-database.js'
import type { TruncateIsolation } from '../truncate-mode.js'
import type { IsolationStrategy } from './strategy.js'
import { workerDatabases } from './worker-lease.js'

/**
 * `isolation: 'truncate'`: one database per worker, put back before each test to the state of
 * the template (the tables written since the last reset emptied and refilled).
 */
export const truncateMode: IsolationStrategy<'truncate'> = {
  name: 'truncate',
  summary: "the worker's database is reset for the next one",
  keepsFailedDatabase: false,
  databasePerTest: false,
  ownOptions: {
    exclude: (mode) =>
      `exclude names tables a truncate reset leaves alone, and isolation '${mode.name}' resets nothing that way (${mode.summary}): drop exclude, or use isolation 'truncate'`,
  },
  /** A name in `exclude` that matches no table of the migrated schema fails the run before any test. */
  checkSchema: async (pool, options) => {
    if (!options.exclude?.length) return
    const exclude = options.exclude
    // Loaded here, in the main process: a test process imports this file and never calls it.
    const [{ withClient }, { readTables }, { assertExcludeMatches }] = await Promise.all([
      import('../admin.js'),
      import('../truncate/catalog.js'),
      import('../truncate/exclude.js'),
    ])
    const lease = await pool.acquire()
    try {
      await withClient(lease.url, async (client) => assertExcludeMatches(exclude, await readTables(client)))
    } finally {
      pool.release(lease.name)
    }
  },
  openWorker: (context) => {
    const worker = workerDatabases<TruncateIsolation>(context, {
      // A new worker takes a fresh clone: its resets go back to the template's state.
      fresh: true,
      open: async (lease) => {
        // Loaded only by the mode that uses it: every worker file pays for what it imports.
        const { createTruncateIsolation } = await import('../truncate-mode.js')
        const state = await createTruncateIsolation({
          url: lease.url,
          runId: context.runId,
          exclude: context.exclude,
        })
        return { state }
      },
      close: (truncate) => truncate.close(),
    })
    return {
      beforeEach: async () => {
        const { lease, client, state: truncate } = await worker.current()
        await truncate.reset()
        return { db: testDatabaseOf(lease, client), lease, afterEach: () => Promise.resolve() }
      },
      close: () => worker.close(),
    }
  },
}
