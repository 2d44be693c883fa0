import pg from 'pg'
import { PgrigError } from '../errors.js'
import { assertOwned } from './guard.js'
import { readForeignKeys, readSequences, readTables, type StoredTable } from './truncate/catalog.js'
import { assertExcludeMatches, assertExcludeShape, compileExclude } from './truncate/exclude.js'
import {
  quoted,
  restoreSql,
  takeSnapshot,
  writtenQuery,
  type Snapshot,
  type Written,
} from './truncate/snapshot.js'

export { BOOKKEEPING_TABLES } from './truncate/exclude.js'

export interface TruncateIsolationOptions {
  /** URL of the per-worker database (`pgrig_<runId>_w<n>`, marked by pgrig). */
  url: string
  /** The run that created the database; with it, a database of another run is refused. */
  runId?: string
  /**
   * Tables kept untouched, as `table` (any schema) or `schema.table`, on top of the migration
   * tools' bookkeeping tables (BOOKKEEPING_TABLES), which are always kept. A name that matches
   * no table is an error.
   */
  exclude?: string[]
  /** How long a reset waits for a lock a leaked connection still holds (default 5000 ms). */
  lockTimeoutMs?: number
}

export interface ResetResult {
  /** `false` when nothing had been written since the last reset, so nothing was sent. */
  truncated: boolean
  /** Tables emptied: those written since the last reset, and the tables whose foreign keys point at them. */
  tables: string[]
  /** Of those, the ones refilled with the rows they held when the isolation was created. */
  restored: string[]
  durationMs: number
}

export interface TruncateIsolation {
  /**
   * Puts every table back as it was when the isolation was created (its rows, its sequences),
   * touching only what was written since the last reset; nothing at all when nothing was.
   */
  reset(): Promise<ResetResult>
  /** Closes the connection reset() uses; the database itself is the pool's to drop. */
  close(): Promise<void>
  /** The backend pid of the connection reset() uses (it holds the snapshot's temporary tables). */
  readonly pid: number
}

const name = (t: { schema: string; name: string }) => `${t.schema}.${t.name}`

/**
 * Truncate isolation: one database per worker, reset between tests to the state it had when
 * the isolation was created (for a worker database fresh from the template: the migrated and
 * seeded state). Tables written since the last reset are emptied with the tables that
 * reference them and refilled from a snapshot; sequences are set back; bookkeeping tables and
 * `exclude` are kept. Refuses a database pgrig did not create.
 */
export async function createTruncateIsolation(options: TruncateIsolationOptions): Promise<TruncateIsolation> {
  assertExcludeShape(options.exclude)
  const client = new pg.Client({ connectionString: options.url })
  client.on('error', () => {})
  await client.connect()
  const excluded = compileExclude(options.exclude ?? [])
  let snapshot: Snapshot
  /** Tables and sequences a reset never looks at: excluded, owned by an extension, or not ours to set. */
  let ignored: number[]
  const tablesByOid = new Map<number, StoredTable>()
  let pid = 0
  try {
    const { rows } = await client.query<{ db: string; pid: number }>(
      'select current_database() as db, pg_backend_pid() as pid',
    )
    pid = rows[0]?.pid ?? 0
    await assertOwned(client, rows[0]?.db ?? '', options.runId)
    await client.query(`set lock_timeout = ${Math.max(1, Math.trunc(options.lockTimeoutMs ?? 5000))}`)
    const all = await readTables(client)
    assertExcludeMatches(options.exclude ?? [], all)
    const tables = all.filter((t) => t.kind === 'r')
    for (const t of tables) tablesByOid.set(t.oid, t)
    const skip = new Set(tables.filter((t) => t.fromExtension || excluded(t)).map((t) => t.oid))
    const allSequences = await readSequences(client)
    const sequences = allSequences.filter(
      (s) => s.usable && !s.fromExtension && !excluded(s) && (s.ownerOid === null || !skip.has(s.ownerOid)),
    )
    const kept = new Set(sequences.map((s) => s.oid))
    ignored = [...skip, ...allSequences.filter((s) => !kept.has(s.oid)).map((s) => s.oid)]
    snapshot = await takeSnapshot(
      client,
      tables.filter((t) => !skip.has(t.oid)),
      sequences,
    )
  } catch (error) {
    await client.end().catch(() => {})
    throw error
  }
  let version = 0
  let closed = false

  /** What was written, minus what a test created and `exclude` names. */
  async function written(): Promise<Written[]> {
    try {
      const { rows } = await client.query<Written>(writtenQuery(snapshot, ignored, version))
      return rows.filter((r) => snapshot.tables.has(r.oid) || tablesByOid.has(r.oid) || !excluded(r))
    } catch (error) {
      // A table or sequence of the snapshot was dropped or renamed by a test: forget it, or follow it.
      if ((error as { code?: string }).code !== '42P01') throw error
      const { rows } = await client.query<{ oid: number; schema: string; name: string }>(
        `select c.oid, n.nspname as schema, c.relname as name from pg_class c
           join pg_namespace n on n.oid = c.relnamespace where c.oid = any($1::oid[])`,
        [[...snapshot.tables.keys(), ...snapshot.sequences.keys()]],
      )
      const now = new Map(rows.map((r) => [r.oid, r]))
      for (const map of [snapshot.tables, snapshot.sequences] as Map<
        number,
        { schema: string; name: string }
      >[]) {
        for (const [oid, t] of map) {
          const current = now.get(oid)
          if (current) map.set(oid, { ...t, schema: current.schema, name: current.name })
          else map.delete(oid)
        }
      }
      version++
      return (await client.query<Written>(writtenQuery(snapshot, ignored, version))).rows
    }
  }

  async function reset(): Promise<ResetResult> {
    if (closed) throw new PgrigError('E_RESET_FAILED', 'truncate isolation was closed; create a new one')
    const started = performance.now()
    try {
      const dirty = await written()
      if (dirty.length === 0)
        return { truncated: false, tables: [], restored: [], durationMs: performance.now() - started }
      const targets = new Map<number, { schema: string; name: string }>()
      for (const d of dirty) if (d.kind === 'r') targets.set(d.oid, d)
      if (targets.size > 0) await closeOverForeignKeys(targets)
      const refill = [...targets.keys()].flatMap((oid) => snapshot.tables.get(oid) ?? [])
      const sequences = dirty
        .filter((d) => d.kind === 'S')
        .map((d) => {
          const s = snapshot.sequences.get(d.oid)
          // A sequence a test created goes back to its start.
          return s
            ? `select setval(${d.oid}::oid::regclass, ${s.last}, ${s.called})`
            : `alter sequence ${quoted(d)} restart`
        })
      const results = await client.query(restoreSql([...targets.values()], refill, sequences))
      const last = Array.isArray(results) ? results[results.length - 1] : results
      const xid = (last?.rows[0] as { xid?: string } | undefined)?.xid
      if (xid) for (const t of refill) snapshot.tables.set(t.oid, { ...t, horizon: xid })
      return {
        truncated: true,
        tables: [...targets.values()].map(name),
        restored: refill.map(name),
        durationMs: performance.now() - started,
      }
    } catch (error) {
      if (error instanceof PgrigError) throw error
      const e = error as { code?: string; message?: string }
      const why =
        e.code === '55P03'
          ? 'another connection still holds a lock on a table (close the pools and clients the test opened, or end its open transaction)'
          : (e.message ?? String(error))
      throw new PgrigError('E_RESET_FAILED', `truncate isolation could not reset the tables: ${why}`, {
        cause: error,
      })
    }
  }

  /**
   * TRUNCATE empties a table only with every table whose foreign keys point at it; those are
   * emptied (and refilled) too. An excluded table among them is an error, not a silent wipe.
   */
  async function closeOverForeignKeys(targets: Map<number, { schema: string; name: string }>): Promise<void> {
    const keys = await readForeignKeys(client)
    for (let grew = true; grew;) {
      grew = false
      for (const k of keys) {
        if (!targets.has(k.toOid) || targets.has(k.fromOid)) continue
        const from = { schema: k.fromSchema, name: k.fromName }
        const known = tablesByOid.get(k.fromOid)
        if (ignored.includes(k.fromOid) || excluded(known ?? from)) {
          const to = targets.get(k.toOid)!
          throw new PgrigError(
            'E_RESET_FAILED',
            `excluded table ${name(from)} references ${name(to)}, so truncating that table would empty it too; exclude ${name(to)} as well or drop the foreign key`,
          )
        }
        targets.set(k.fromOid, from)
        grew = true
      }
    }
  }

  return {
    reset,
    pid,
    async close() {
      if (closed) return
      closed = true
      await client.end().catch(() => {})
    },
  }
}
