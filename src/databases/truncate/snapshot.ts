import type pg from 'pg'
import { quoteIdentifier, quoteLiteral } from '../../servers/sql-quote.js'
import type { SequenceInfo, StoredTable } from './catalog.js'
import { SYSTEM_SCHEMAS } from './catalog.js'

/**
 * What a reset restores. The rows live in temporary tables of the reset's own connection
 * (`pg_temp_N.pgrig_snapshot_<oid>`): other connections' `\dt`, `information_schema.tables` and
 * ORM introspection (which skip `pg_*` schemas) never list them, and they vanish with it.
 */
export interface Snapshot {
  /** Tables that held rows, by oid. */
  tables: Map<number, SnapshotTable>
  /** Sequences as they were: `setval(oid, last, called)` puts one back. */
  sequences: Map<number, SnapshotSequence>
}

export interface SnapshotSequence {
  schema: string
  name: string
  last: string
  called: boolean
}

export interface SnapshotTable {
  oid: number
  schema: string
  name: string
  columns: string[]
  triggers: string[]
  rules: string[]
  rows: number
  /**
   * Every row a reset put back (or the template held) was written by this transaction or an
   * older one; a visible row from a newer one means the table was written since.
   */
  horizon: string
}

export const quoted = (t: { schema: string; name: string }): string =>
  `${quoteIdentifier(t.schema)}.${quoteIdentifier(t.name)}`
const copyOf = (oid: number): string => `pg_temp.pgrig_snapshot_${oid}`

function resultsOf(result: pg.QueryResult | pg.QueryResult[]): pg.QueryResult[] {
  return Array.isArray(result) ? result : [result]
}

/** Copies every table that holds rows, and reads every sequence, in one consistent snapshot. */
export async function takeSnapshot(
  client: pg.Client,
  tables: StoredTable[],
  sequences: SequenceInfo[],
): Promise<Snapshot> {
  const snapshot: Snapshot = { tables: new Map(), sequences: new Map() }
  await client.query('begin isolation level repeatable read')
  try {
    const horizon = (await client.query<{ xid: string }>('select pg_current_xact_id()::xid::text as xid'))
      .rows[0]!.xid
    const withData = tables.filter((t) => t.hasData)
    if (withData.length > 0) {
      const copies = resultsOf(
        await client.query(
          withData
            .map(
              (t) =>
                `create temp table pgrig_snapshot_${t.oid} as select ${t.columns.join(', ')} from only ${quoted(t)}`,
            )
            .join(';\n'),
        ),
      )
      const empty: number[] = []
      withData.forEach((t, i) => {
        const rows = copies[i]?.rowCount ?? 0
        if (rows === 0) empty.push(t.oid)
        else {
          const { oid, schema, name, columns, triggers, rules } = t
          snapshot.tables.set(oid, { oid, schema, name, columns, triggers, rules, rows, horizon })
        }
      })
      if (empty.length > 0) await client.query(`drop table ${empty.map(copyOf).join(', ')}`)
    }
    const readable = sequences.filter((s) => s.usable)
    if (readable.length > 0) {
      const { rows } = await client.query<{ oid: number; last: string; called: boolean }>(
        readable
          .map(
            (s) =>
              `select ${s.oid}::oid as oid, last_value::text as last, is_called as called from ${quoted(s)}`,
          )
          .join('\nunion all\n'),
      )
      const byOid = new Map(readable.map((s) => [s.oid, s]))
      for (const row of rows) {
        const { schema, name } = byOid.get(row.oid)!
        snapshot.sequences.set(row.oid, { schema, name, last: row.last, called: row.called })
      }
    }
    await client.query('commit')
  } catch (error) {
    await client.query('rollback').catch(() => {})
    throw error
  }
  return snapshot
}

export interface Written {
  oid: number
  kind: 'r' | 'S'
  schema: string
  name: string
}

/**
 * One statement that lists what was written since the last reset. A table that was empty is
 * judged by its file: a truncated table has a fresh, empty one until its first insert. A table
 * that held rows is scanned: it was written when its row count changed or a visible row is newer
 * than its horizon (an update or insert; a delete changes the count). A sequence moved when
 * `pg_sequence_last_value` differs; one never called (whose value that function hides) is read, so
 * a `setval(…, false)` is seen too. Statistics views are flushed lazily, so they could miss the
 * last test's writes; none of these can.
 */
export function writtenQuery(
  snapshot: Snapshot,
  ignored: readonly number[],
  version: number,
): pg.QueryConfig<unknown[]> {
  const seeded = [...snapshot.tables.values()]
  const expected = [...snapshot.sequences].map(([oid, s]) => [oid, s.called ? s.last : null] as const)
  const scans = seeded.map(
    (t, i) =>
      `select ${t.oid}::oid, 'r'::"char", ${quoteLiteral(t.schema)}::name, ${quoteLiteral(t.name)}::name
        where (select count(*) <> ${t.rows} or coalesce(bool_or(age(xmin) < age($${i + 5}::xid)), false)
                 from only ${quoted(t)})`,
  )
  const uncalled = [...snapshot.sequences]
    .filter(([, s]) => !s.called)
    .map(
      ([oid, s]) =>
        `select ${oid}::oid, 'S'::"char", ${quoteLiteral(s.schema)}::name, ${quoteLiteral(s.name)}::name
          where exists (select from ${quoted(s)} where is_called or last_value <> ${quoteLiteral(s.last)}::int8)`,
    )
  const text = [
    `select c.oid, c.relkind as kind, n.nspname as schema, c.relname as name
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'S') and c.relpersistence <> 't' and ${SYSTEM_SCHEMAS} and c.oid <> all($1::oid[])
        and case when c.relkind = 'S' then
                   case when has_sequence_privilege(c.oid, 'SELECT,USAGE') then pg_sequence_last_value(c.oid) is distinct from
                          (select s.v from unnest($2::oid[], $3::int8[]) as s(o, v) where s.o = c.oid)
                        else false end
                 else c.oid <> all($4::oid[]) and pg_relation_size(c.oid) > 0 end`,
    ...scans,
    ...uncalled,
  ].join('\nunion all\n')
  return {
    name: `pgrig_truncate_written_${version}`,
    text,
    values: [
      ignored,
      expected.map(([oid]) => oid),
      expected.map(([, v]) => v),
      seeded.map((t) => t.oid),
      ...seeded.map((t) => t.horizon),
    ],
  }
}

/**
 * One implicit transaction: empty the tables, put the snapshot's rows back with the user
 * triggers and insert rules off (an audit trigger must not log a restore, a BEFORE INSERT trigger
 * or a DO INSTEAD rule must not rewrite or redirect what it puts back) in one statement, so foreign keys between them (even cycles) are
 * checked once at its end, then set the sequences back.
 */
export function restoreSql(
  targets: readonly { schema: string; name: string }[],
  refill: readonly SnapshotTable[],
  sequences: readonly string[],
): string {
  const statements: string[] = []
  if (targets.length > 0) statements.push(`truncate ${targets.map((t) => `only ${quoted(t)}`).join(', ')}`)
  // Each entry is its mode (`O`, or `A` for always) then its name.
  const switches = refill.flatMap((t) => [
    ...t.triggers.map((entry) => ({ t, kind: 'trigger', entry })),
    ...t.rules.map((entry) => ({ t, kind: 'rule', entry })),
  ])
  for (const { t, kind, entry } of switches) {
    statements.push(`alter table ${quoted(t)} disable ${kind} ${quoteIdentifier(entry.slice(1))}`)
  }
  const inserts = refill.map(
    (t) =>
      `insert into ${quoted(t)} (${t.columns.join(', ')}) overriding system value select ${t.columns.join(', ')} from ${copyOf(t.oid)}`,
  )
  if (inserts.length > 0) {
    const last = inserts.pop()!
    statements.push(
      inserts.length === 0 ? last : `with ${inserts.map((s, i) => `r${i} as (${s})`).join(',\n')}\n${last}`,
    )
  }
  for (const { t, kind, entry } of switches) {
    const always = entry.startsWith('A') ? ' always' : ''
    statements.push(`alter table ${quoted(t)} enable${always} ${kind} ${quoteIdentifier(entry.slice(1))}`)
  }
  statements.push(...sequences)
  statements.push('select pg_current_xact_id()::xid::text as xid')
  return statements.join(';\n')
}
