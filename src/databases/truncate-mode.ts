import pg from 'pg'
import { PgrigError } from '../errors.js'
import { assertOwned, quoteIdentifier } from './guard.js'

export interface TruncateIsolationOptions {
  /** URL of the per-worker database (`pgrig_<runId>_w<n>`, marked by pgrig). */
  url: string
  /** The run that created the database; with it, a database of another run is refused. */
  runId?: string
  /**
   * Tables kept untouched, as `table` (any schema) or `schema.table`, e.g. migration
   * bookkeeping: `['schema_migrations', 'public.knex_migrations']`.
   */
  exclude?: string[]
  /** How long a reset waits for a lock a leaked connection still holds (default 5000 ms). */
  lockTimeoutMs?: number
}

export interface ResetResult {
  /** `false` when nothing had been written since the last reset, so no TRUNCATE was sent. */
  truncated: boolean
  /** Tables named in the TRUNCATE (written since the last reset; CASCADE adds referencing ones). */
  tables: string[]
  durationMs: number
}

export interface TruncateIsolation {
  /** Empties every user table (sequences restarted) unless nothing was written. */
  reset(): Promise<ResetResult>
  /** Closes the connection reset() uses; the database itself is the pool's to drop. */
  close(): Promise<void>
}

interface StateRow {
  kind: 't' | 's'
  schema: string
  name: string
  dirty: boolean
  owner_schema: string | null
  owner_name: string | null
}

const SYSTEM_SCHEMAS = `n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
  and n.nspname not like 'pg\\_temp\\_%' and n.nspname not like 'pg\\_toast\\_temp\\_%'`
const NOT_FROM_EXTENSION = `not exists (select 1 from pg_depend e
  where e.classid = 'pg_class'::regclass and e.objid = c.oid and e.deptype = 'e')`

/**
 * One round trip tells whether anything was written: a truncated table has a fresh, empty
 * file (0 bytes) until its first insert, and a restarted sequence reads NULL in pg_sequences
 * until its first nextval. Statistics views (pg_stat_user_tables) are flushed lazily by other
 * backends, so they could miss the last test's writes; file sizes cannot.
 */
const STATE_SQL = `
select 't' as kind, n.nspname as schema, c.relname as name, pg_relation_size(c.oid) > 0 as dirty,
       null::name as owner_schema, null::name as owner_name
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where c.relkind in ('r', 'p') and c.relpersistence <> 't' and ${SYSTEM_SCHEMAS} and ${NOT_FROM_EXTENSION}
union all
select 's', n.nspname, c.relname, s.last_value is not null, tn.nspname, t.relname
  from pg_sequences s
  join pg_namespace n on n.nspname = s.schemaname
  join pg_class c on c.relname = s.sequencename and c.relnamespace = n.oid
  left join pg_depend d on d.classid = 'pg_class'::regclass and d.objid = c.oid
       and d.refclassid = 'pg_class'::regclass and d.deptype in ('a', 'i')
  left join pg_class t on t.oid = d.refobjid
  left join pg_namespace tn on tn.oid = t.relnamespace
 where ${SYSTEM_SCHEMAS} and ${NOT_FROM_EXTENSION}
 order by 1, 2, 3`

/**
 * The common case, nothing written, answered from pg_class alone: catalog joins and the
 * pg_sequences view cost a few milliseconds on a loaded machine, this a fraction of one.
 */
const QUICK_SQL = `
select n.nspname as schema, c.relname as name
  from pg_class c join pg_namespace n on n.oid = c.relnamespace
 where c.relkind in ('r', 'p', 'S') and c.relpersistence <> 't' and ${SYSTEM_SCHEMAS}
   and case when c.relkind <> 'S' then pg_relation_size(c.oid) > 0
            when has_sequence_privilege(c.oid, 'SELECT,USAGE') then pg_sequence_last_value(c.oid) is not null
            else false end`

const FOREIGN_KEYS_SQL = `
select cn.nspname as from_schema, c.relname as from_table, fn.nspname as to_schema, f.relname as to_table
  from pg_constraint k
  join pg_class c on c.oid = k.conrelid join pg_namespace cn on cn.oid = c.relnamespace
  join pg_class f on f.oid = k.confrelid join pg_namespace fn on fn.oid = f.relnamespace
 where k.contype = 'f'`

/**
 * Truncate isolation: one database per worker, every user table of every non-system schema
 * emptied between tests in one `TRUNCATE … RESTART IDENTITY CASCADE`, standalone sequences
 * restarted, tables in `exclude` kept. Refuses a database pgrig did not create.
 */
export async function createTruncateIsolation(options: TruncateIsolationOptions): Promise<TruncateIsolation> {
  const client = new pg.Client({ connectionString: options.url })
  client.on('error', () => {})
  await client.connect()
  try {
    const { rows } = await client.query<{ db: string }>('select current_database() as db')
    await assertOwned(client, rows[0]?.db ?? '', options.runId)
    await client.query(`set lock_timeout = ${Math.max(1, Math.trunc(options.lockTimeoutMs ?? 5000))}`)
  } catch (error) {
    await client.end().catch(() => {})
    throw error
  }
  const excluded = compileExclude(options.exclude ?? [])
  let closed = false

  async function reset(): Promise<ResetResult> {
    if (closed) throw new PgrigError('E_RESET_FAILED', 'truncate isolation was closed; create a new one')
    const started = performance.now()
    const quick = await client.query<{ schema: string; name: string }>({
      name: 'pgrig_truncate_quick',
      text: QUICK_SQL,
    })
    if (quick.rows.every((r) => excluded(r.schema, r.name))) {
      return { truncated: false, tables: [], durationMs: performance.now() - started }
    }
    const { rows } = await client.query<StateRow>(STATE_SQL)
    const kept = rows.filter((r) => r.kind === 't' && !excluded(r.schema, r.name))
    const sequences = rows.filter(
      (r) =>
        r.kind === 's' &&
        !excluded(r.schema, r.name) &&
        (r.owner_name === null || !excluded(r.owner_schema ?? '', r.owner_name)),
    )
    // Sequences owned by a column are restarted by RESTART IDENTITY; standalone ones need ALTER.
    const standalone = sequences.filter((s) => s.dirty && s.owner_name === null)
    if (!kept.some((t) => t.dirty) && !sequences.some((s) => s.dirty)) {
      return { truncated: false, tables: [], durationMs: performance.now() - started }
    }
    // Only what was written: each truncated table costs new files, and an untouched table is
    // empty already. CASCADE adds the tables that reference them; a table whose own sequence
    // moved (a failed insert, a bare nextval) is listed so RESTART IDENTITY resets it.
    const owners = new Set(
      sequences
        .filter((q) => q.dirty && q.owner_name !== null)
        .map((q) => `${q.owner_schema}.${q.owner_name}`),
    )
    const targets = kept.filter((t) => t.dirty || owners.has(`${t.schema}.${t.name}`))
    const names = targets.map((t) => `${quoteIdentifier(t.schema)}.${quoteIdentifier(t.name)}`)
    if (excluded.any) await assertNoCascadeInto(kept)
    const statements = [
      ...(names.length > 0 ? [`TRUNCATE ${names.join(', ')} RESTART IDENTITY CASCADE`] : []),
      ...standalone.map(
        (s) => `ALTER SEQUENCE ${quoteIdentifier(s.schema)}.${quoteIdentifier(s.name)} RESTART`,
      ),
    ]
    try {
      await client.query(statements.join(';\n'))
    } catch (error) {
      const e = error as { code?: string; message?: string }
      const why =
        e.code === '55P03'
          ? 'another connection still holds a lock on a table (close the pools and clients the test opened, or end its open transaction)'
          : (e.message ?? String(error))
      throw new PgrigError('E_RESET_FAILED', `truncate isolation could not empty the tables: ${why}`, {
        cause: error,
      })
    }
    return {
      truncated: true,
      tables: targets.map((t) => `${t.schema}.${t.name}`),
      durationMs: performance.now() - started,
    }
  }

  /** CASCADE would also empty an excluded table that references a truncated one. */
  async function assertNoCascadeInto(kept: StateRow[]): Promise<void> {
    const inList = new Set(kept.map((t) => `${t.schema}.${t.name}`))
    const { rows } = await client.query<{
      from_schema: string
      from_table: string
      to_schema: string
      to_table: string
    }>(FOREIGN_KEYS_SQL)
    const bad = rows.find(
      (r) => excluded(r.from_schema, r.from_table) && inList.has(`${r.to_schema}.${r.to_table}`),
    )
    if (bad) {
      throw new PgrigError(
        'E_RESET_FAILED',
        `excluded table ${bad.from_schema}.${bad.from_table} references ${bad.to_schema}.${bad.to_table}, so truncating that table would empty it too; exclude ${bad.to_schema}.${bad.to_table} as well or drop the foreign key`,
      )
    }
  }

  return {
    reset,
    async close() {
      if (closed) return
      closed = true
      await client.end().catch(() => {})
    },
  }
}

type ExcludeMatcher = ((schema: string, name: string) => boolean) & { any: boolean }

function compileExclude(patterns: string[]): ExcludeMatcher {
  const qualified = new Set<string>()
  const bare = new Set<string>()
  for (const pattern of patterns) {
    const dot = pattern.indexOf('.')
    if (dot === -1) bare.add(pattern)
    else qualified.add(pattern)
  }
  const matcher = ((schema: string, name: string) =>
    bare.has(name) || qualified.has(`${schema}.${name}`)) as ExcludeMatcher
  matcher.any = patterns.length > 0
  return matcher
}
