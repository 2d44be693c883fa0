import { logOffsetOf } from '../log-offset.js'
import { openTestDatabase } from '../test-database.js'
import type { IsolationStrategy } from './strategy.js'
import type { ResetDatabase, ResetDecision } from '../reset/worker.js'

/**
 * `isolation: 'reset'`: one database per worker, as truncate mode, but with database mode's
 * guarantee: before each test every other connection to it is ended, prepared transactions are
 * rolled back, and the database is either reset in place (only the written tables and sequences)
 * or, when a catalog changed (DDL, large objects, database settings) or a swap is predicted
 * cheaper, swapped for a fresh clone of the template.
 */
export const resetMode: IsolationStrategy<'reset'> = {
  name: 'reset',
  summary: "the worker's database is reset (or swapped for a fresh clone) for the next one",
  keepsFailedDatabase: false,
  databasePerTest: false,
  openWorker: (context) => {
    let current: ResetDatabase | undefined
    let used = false
    let tools: typeof import('../reset/worker.js') | undefined
    const load = async () => (tools ??= await import('../reset/worker.js'))
    let inPlace: InstanceType<typeof import('../reset/worker.js').Ewma> | undefined
    let swap: InstanceType<typeof import('../reset/worker.js').Ewma> | undefined
    /** What each reset did, newest last (read by the tests). */
    const decisions: ResetDecision[] = []

    /** A clone from the pool, ready before it was asked for: a swap waits for no CREATE DATABASE. */
    const openFresh = async (): Promise<ResetDatabase> => {
      const t = await load()
      const lease = await context.broker.acquire()
      return t.openResetDatabase(lease, context.runId).catch(async (error: unknown) => {
        await context.broker.release(lease.name)
        throw error
      })
    }
    /** Ends its connection and gives the clone back to the pool, which drops it. */
    const retire = async (db: ResetDatabase) => {
      const t = await load()
      await t.closeResetDatabase(db)
      await context.broker.release(db.lease.name)
    }

    const prepare = async (): Promise<ResetDatabase> => {
      const t = await load()
      inPlace ??= new t.Ewma()
      swap ??= new t.Ewma()
      if (!current) {
        const started = performance.now()
        current = await openFresh()
        // The first database costs what a swap costs: the cost rule can weigh a swap from the start.
        swap.add(performance.now() - started)
        used = false
        return current
      }
      if (!used) return current
      const started = performance.now()
      const changed = await t.settle(current)
      // Prefer the path predicted cheaper; an unmeasured reset in place is assumed the cheaper.
      const predictedInPlace = inPlace.estimate ?? 0
      const predictedSwap = swap.estimate ?? Number.POSITIVE_INFINITY
      if (changed.length > 0 || predictedSwap < predictedInPlace) {
        const old = current
        current = undefined
        await retire(old)
        current = await openFresh()
        const ms = performance.now() - started
        swap.add(ms)
        decisions.push({ path: 'swap', changed, ms })
      } else {
        await t.resetInPlace(current)
        const ms = performance.now() - started
        inPlace.add(ms)
        decisions.push({ path: 'in-place', changed, ms })
      }
      if (decisions.length > 100) decisions.shift()
      used = false
      return current
    }

    return Object.assign(
      {
        beforeEach: async () => {
          const worker = await prepare()
          used = true
          const db = await openTestDatabase(worker.lease)
          return {
            db,
            lease: { ...worker.lease, logOffset: logOffsetOf(worker.lease.logFile) },
            afterEach: () => db.close(),
          }
        },
        close: async () => {
          const closing = current
          current = undefined
          if (closing) await retire(closing)
        },
      },
      { decisions },
    )
  },
}
