import pg from 'pg'
import type { Lease } from '../clone-pool.js'
import { assertOwned } from '../guard.js'
import { openDeltaReset, type DeltaReset } from './delta.js'
import { countersTrusted, FLUSH_OWN_WRITES, moved, readCounters, type WriteCounters } from './counters.js'
import {
  catalogOids,
  changedCatalogs,
  endOtherSessions,
  takeBaseline,
  type CatalogBaseline,
} from './guard.js'

/** What one worker database holds for reset mode: its control connection, its row snapshot, its catalog baseline. */
export interface ResetDatabase {
  lease: Lease
  /** A superuser connection kept for the worker database's life: it holds the snapshot. */
  control: pg.Client
  /** `undefined`: a trigger or rule would fire on a restore, so every used database is swapped. */
  delta: DeltaReset | undefined
  baseline: CatalogBaseline & { catalogs: string[] }
  /** The write counters after the last reset, of the tables and the guarded catalogs; `undefined`: not trusted. */
  counters: WriteCounters | undefined
  /** The guarded catalogs' oids (`pg_db_role_setting` among them). */
  catalogs: Set<number>
  /** What the last `settle` found written (from the counters); `undefined`: scan. */
  written: number[] | undefined
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

/** Opens reset mode's side of a fresh worker database: the row snapshot, then the catalog baseline. */
export async function openResetDatabase(lease: Lease, runId: string): Promise<ResetDatabase> {
  const control = new pg.Client({ connectionString: lease.adminUrl })
  control.on('error', () => {})
  try {
    await control.connect()
    await assertOwned(control, lease.name, runId)
    const delta = await openDeltaReset(control)
    const baseline = await takeBaseline(control)
    const catalogs = new Set(await catalogOids(control, [...baseline.catalogs, 'pg_db_role_setting']))
    const db: ResetDatabase = {
      lease,
      control,
      delta,
      baseline,
      catalogs,
      counters: undefined,
      written: undefined,
    }
    if (delta && (await countersTrusted(control))) {
      await control.query(FLUSH_OWN_WRITES)
      db.counters = await readCounters(control, [...catalogs, ...delta.tables])
    }
    return db
  } catch (error) {
    await control.end().catch(() => {})
    throw error
  }
}

export async function closeResetDatabase(db: ResetDatabase): Promise<void> {
  await db.control.end().catch(() => {})
}

/**
 * Ends the test's connections and prepared transactions, then says what stops the database from
 * being put back in place: the guarded catalogs that changed (DDL, large objects, database
 * settings), or `triggers` when a restore would fire one.
 */
export async function settle(db: ResetDatabase): Promise<string[]> {
  await endOtherSessions(db.control)
  if (!db.delta) return ['triggers']
  if (!db.counters) return changedCatalogs(db.control, db.baseline)
  const now = await readCounters(db.control, [...db.counters.keys()])
  const written = moved(db.counters, now)
  db.counters = now
  db.written = written.filter((oid) => !db.catalogs.has(oid))
  // No guarded catalog written: no catalog scan (a temporary table of a test moves them, and is scanned).
  return written.length > db.written.length ? changedCatalogs(db.control, db.baseline) : []
}

/** Puts the written rows and sequences back (no catalog row changes, so the catalog horizon holds). */
export async function resetInPlace(db: ResetDatabase): Promise<void> {
  const wrote = await db.delta?.reset(db.written)
  // Its own writes, flushed as it went idle, are not the next test's.
  if (wrote && db.counters) db.counters = await readCounters(db.control, [...db.counters.keys()])
}
