import pg from 'pg'
import type { Lease } from '../clone-pool.js'
import type { TruncateIsolation } from '../truncate-mode.js'
import { changedCatalogs, endOtherSessions, takeBaseline, type CatalogBaseline } from './guard.js'

/** What one worker database holds for reset mode: its truncate reset, its control connection, its catalog baseline. */
export interface ResetDatabase {
  lease: Lease
  truncate: TruncateIsolation
  control: pg.Client
  baseline: CatalogBaseline & { catalogs: string[] }
}

/** A running estimate of one path's cost (ms): an exponentially weighted moving average. */
export class Ewma {
  private value: number | undefined
  constructor(private readonly weight = 0.3) {}
  add(ms: number): void {
    this.value = this.value === undefined ? ms : this.value + this.weight * (ms - this.value)
  }
  get estimate(): number | undefined {
    return this.value
  }
}

export type ResetPath = 'in-place' | 'swap'

export interface ResetDecision {
  path: ResetPath
  /** Why a swap was forced: the catalogs that changed (DDL, large objects, database settings). */
  changed: string[]
  ms: number
}

/** Opens reset mode's side of a fresh worker database: the truncate snapshot, then the catalog baseline. */
export async function openResetDatabase(
  lease: Lease,
  runId: string,
  exclude: string[] | undefined,
): Promise<ResetDatabase> {
  const { createTruncateIsolation } = await import('../truncate-mode.js')
  const truncate = await createTruncateIsolation({ url: lease.url, runId, exclude })
  const control = new pg.Client({ connectionString: lease.adminUrl })
  control.on('error', () => {})
  try {
    await control.connect()
    const baseline = await takeBaseline(control)
    return { lease, truncate, control, baseline }
  } catch (error) {
    await Promise.allSettled([truncate.close(), control.end()])
    throw error
  }
}

export async function closeResetDatabase(db: ResetDatabase): Promise<void> {
  await Promise.allSettled([db.truncate.close(), db.control.end()])
}

/**
 * Ends the test's connections and prepared transactions, then says whether the database can be
 * put back in place: not when a guarded catalog changed (DDL, large objects, database settings).
 */
export async function settle(db: ResetDatabase): Promise<string[]> {
  await endOtherSessions(db.control, [db.truncate.pid])
  return changedCatalogs(db.control, db.baseline)
}

/** Puts the written tables and sequences back, then moves the catalog horizon past the reset's own writes. */
export async function resetInPlace(db: ResetDatabase): Promise<void> {
  // A reset that wrote nothing changed no catalog row: the horizon still holds.
  if ((await db.truncate.reset()).truncated)
    db.baseline = await takeBaseline(db.control, db.baseline.catalogs)
}
