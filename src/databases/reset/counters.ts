import type pg from 'pg'

/**
 * The server's write counters (tuples inserted, updated and deleted) of the worker database's
 * tables and guarded catalogs, by oid. A backend flushes its counters before it leaves
 * `pg_stat_activity` (`pgstat_shutdown_hook` runs before the exit steps that remove it), and the
 * sweep waits until every test connection has left: afterwards, a counter that did not move
 * means its table was not written. Reset mode reads them to skip the scans of what was not
 * written; where it cannot trust them (before PostgreSQL 15 counters travelled by UDP and could
 * be lost; `track_counts` off) it scans everything.
 */
export type WriteCounters = Map<number, string>

/** Whether this server's counters can be trusted as above. */
export async function countersTrusted(client: pg.Client): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>(
    `select current_setting('server_version_num')::int >= 150000 and current_setting('track_counts')::bool as ok`,
  )
  return rows[0]?.ok === true
}

/** Reads the counters of `oids` (the reset's own writes count once flushed: see `FLUSH_OWN_WRITES`). */
export async function readCounters(client: pg.Client, oids: readonly number[]): Promise<WriteCounters> {
  const { rows } = await client.query<{ oid: number; writes: string }>({
    name: 'pgrig_reset_counters',
    text: `select o as oid, (pg_stat_get_tuples_inserted(o) + pg_stat_get_tuples_updated(o)
              + pg_stat_get_tuples_deleted(o))::text as writes from unnest($1::oid[]) as o`,
    values: [oids],
  })
  return new Map(rows.map((r) => [r.oid, r.writes]))
}

/** Appended to the reset's own writes: its counters are flushed when it goes idle, not a second later. */
export const FLUSH_OWN_WRITES = 'select pg_stat_force_next_flush()'

/** The oids whose counter moved between two reads. */
export function moved(before: WriteCounters, after: WriteCounters): number[] {
  return [...after].filter(([oid, writes]) => before.get(oid) !== writes).map(([oid]) => oid)
}
