import type pg from 'pg'
import { quoteLiteral } from '../../servers/sql-quote.js'
import { FLUSH_OWN_WRITES } from './counters.js'
import { readSequences, readTables } from '../truncate/catalog.js'
import {
  quoted,
  takeSnapshot,
  writtenQuery,
  type Snapshot,
  type SnapshotTable,
} from '../truncate/snapshot.js'

/**
 * Reset mode's in-place reset: the rows a test wrote are put back one by one instead of emptying
 * and refilling whole tables (and the tables whose foreign keys point at them), so a test that
 * wrote two rows costs two deletes and two inserts, and no catalog row changes (no TRUNCATE, no
 * trigger switched off: the connection runs with `session_replication_role = replica`, under
 * which neither user triggers, rules nor foreign-key checks fire).
 */
export interface DeltaReset {
  /**
   * Puts every written table and sequence back; `false` when nothing had been written. `written`:
   * the tables known to be the only ones written (from the server's counters), so no table is
   * scanned to find them; the sequences are always compared.
   */
  reset(written?: readonly number[]): Promise<boolean>
  /** The tables it restores, by oid. */
  readonly tables: readonly number[]
}

/**
 * The tables a replica-role connection cannot restore without side effects: those with a trigger
 * or rule enabled `ALWAYS` or `REPLICA` (they fire under `session_replication_role = replica`).
 */
const FIRES_UNDER_REPLICA = `
select tgrelid as oid from pg_trigger where tgenabled in ('A', 'R')
union select ev_class from pg_rewrite where ev_enabled in ('A', 'R') and ev_type in ('2', '3', '4')`

/** Each table's primary key, as quoted column names. */
const PRIMARY_KEYS = `
select i.indrelid as oid, array_agg(quote_ident(a.attname)::text order by k.n) as key
  from pg_index i cross join unnest(i.indkey) with ordinality as k(attnum, n)
  join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
 where i.indisprimary group by i.indrelid`

const copyOf = (oid: number): string => `pg_temp.pgrig_snapshot_${oid}`

/** The statements that put one written table back to its snapshot (`rows: 0`: it was empty). */
function restoreTable(t: SnapshotTable, key: string[] | undefined, horizon: string): string[] {
  const table = `only ${quoted(t)}`
  if (t.rows === 0) return [`delete from ${table}`]
  const columns = t.columns.join(', ')
  const insert = `insert into ${quoted(t)} (${columns}) overriding system value select ${columns} from ${copyOf(t.oid)} s`
  // Without a key a row cannot be matched to its original: the table is rewritten whole.
  if (!key) return [`delete from ${table}`, insert]
  const match = key.map((k) => `x.${k} = s.${k}`).join(' and ')
  return [
    // Inserted and updated rows are newer than the horizon; deleted originals are missing by key.
    `delete from ${table} where age(xmin) < age(${quoteLiteral(horizon)}::xid)`,
    `${insert} where not exists (select from ${table} x where ${match})`,
  ]
}

/**
 * Snapshots every table and sequence of the database on `client` (a superuser connection of its
 * own, kept for the worker's life: the snapshot lives in its temporary tables). `undefined` when
 * a table has a trigger or rule that would fire on a restore: such a database is swapped instead.
 */
export async function openDeltaReset(client: pg.Client): Promise<DeltaReset | undefined> {
  if ((await client.query(FIRES_UNDER_REPLICA)).rows.length > 0) return undefined
  await client.query('set session_replication_role = replica')
  const allTables = await readTables(client)
  const allSequences = await readSequences(client)
  const tables = allTables.filter((t) => t.kind === 'r' && !t.fromExtension)
  const sequences = allSequences.filter((s) => s.usable && !s.fromExtension)
  const snapshot: Snapshot = await takeSnapshot(client, tables, sequences)
  // Every row there now is older than the horizon; a row newer than it was written by a test.
  let horizon = await currentXid(client)
  // Tables that were empty are tracked too: a delete, not a truncate, empties them again.
  for (const t of tables) {
    const { oid, schema, name, columns, triggers, rules } = t
    const seeded = snapshot.tables.get(oid)
    snapshot.tables.set(
      oid,
      seeded ? { ...seeded, horizon } : { oid, schema, name, columns, triggers, rules, rows: 0, horizon },
    )
  }
  const keys = new Map(
    (await client.query<{ oid: number; key: string[] }>(PRIMARY_KEYS)).rows.map((r) => [r.oid, r.key]),
  )
  const ignored = [
    ...allTables.filter((t) => t.fromExtension).map((t) => t.oid),
    ...allSequences.filter((s) => !s.usable || s.fromExtension).map((s) => s.oid),
  ]
  const movedSequences = sequencesQuery(snapshot)
  return {
    tables: [...snapshot.tables.keys()],
    async reset(written) {
      const dirty = written
        ? [
            ...written.map((oid) => ({ oid, kind: 'r' as const })),
            ...(await client.query<{ oid: number }>(movedSequences)).rows.map((r) => ({
              oid: r.oid,
              kind: 'S' as const,
            })),
          ]
        : (await client.query<{ oid: number; kind: 'r' | 'S' }>(writtenQuery(snapshot, ignored, 0))).rows
      if (dirty.length === 0) return false
      const statements = dirty.flatMap((d) => {
        if (d.kind === 'S') {
          const s = snapshot.sequences.get(d.oid)
          return s ? [`select setval(${d.oid}::oid::regclass, ${s.last}, ${s.called})`] : []
        }
        const t = snapshot.tables.get(d.oid)
        return t ? restoreTable(t, keys.get(d.oid), horizon) : []
      })
      statements.push(FLUSH_OWN_WRITES, 'select pg_current_xact_id()::xid::text as xid')
      const results = (await client.query(statements.join(';\n'))) as unknown as pg.QueryResult[]
      horizon = (results.at(-1)?.rows[0] as { xid: string }).xid
      for (const [oid, t] of snapshot.tables) snapshot.tables.set(oid, { ...t, horizon })
      return true
    },
  }
}

/** The sequences whose state moved (one never called, whose value `pg_sequence_last_value` hides, is read). */
function sequencesQuery(snapshot: Snapshot): pg.QueryConfig<unknown[]> {
  const all = [...snapshot.sequences]
  const called = all.filter(([, s]) => s.called)
  const uncalled = all
    .filter(([, s]) => !s.called)
    .map(
      ([oid, s]) =>
        `select ${oid}::oid where exists (select from ${quoted(s)} where is_called or last_value <> ${quoteLiteral(s.last)}::int8)`,
    )
  return {
    name: 'pgrig_reset_sequences',
    text: [
      `select o as oid from unnest($1::oid[], $2::int8[]) as s(o, v) where pg_sequence_last_value(o) is distinct from v`,
      ...uncalled,
    ].join('\nunion all\n'),
    values: [called.map(([oid]) => oid), called.map(([, s]) => s.last)],
  }
}

async function currentXid(client: pg.Client): Promise<string> {
  return (await client.query<{ xid: string }>('select pg_current_xact_id()::xid::text as xid')).rows[0]!.xid
}
