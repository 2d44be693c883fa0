import type pg from 'pg'

/**
 * The catalogs a test can change that a fresh clone of the template would not show changed, each
 * judged as truncate judges a seeded table: its visible row count moved, or a visible row is
 * newer than the horizon. `pg_namespace` skips the temporary schemas a backend creates on its
 * first temporary table (they outlive it and carry nothing). `pg_largeobject` and its metadata
 * catch large objects; `pg_db_role_setting` (shared) is read for this database only.
 */
export const GUARDED_CATALOGS = [
  'pg_class',
  'pg_attribute',
  'pg_type',
  'pg_proc',
  'pg_namespace',
  'pg_constraint',
  'pg_index',
  'pg_trigger',
  'pg_enum',
  'pg_attrdef',
  'pg_depend',
  'pg_description',
  'pg_rewrite',
  'pg_policy',
  'pg_extension',
  'pg_largeobject_metadata',
  'pg_largeobject',
  'pg_default_acl',
  'pg_statistic',
  'pg_statistic_ext',
  'pg_inherits',
  'pg_partitioned_table',
  'pg_sequence',
  'pg_aggregate',
  'pg_operator',
  'pg_opclass',
  'pg_opfamily',
  'pg_amop',
  'pg_amproc',
  'pg_cast',
  'pg_collation',
  'pg_conversion',
  'pg_event_trigger',
  'pg_foreign_data_wrapper',
  'pg_foreign_server',
  'pg_foreign_table',
  'pg_user_mapping',
  'pg_publication',
  'pg_publication_rel',
  'pg_publication_namespace',
  'pg_subscription_rel',
  'pg_transform',
  'pg_ts_config',
  'pg_ts_config_map',
  'pg_ts_dict',
  'pg_ts_parser',
  'pg_ts_template',
  'pg_init_privs',
  'pg_seclabel',
  'pg_range',
] as const

const filterOf = (catalog: string): string => {
  if (catalog === 'pg_namespace')
    return ` where nspname not like 'pg\\_temp\\_%' and nspname not like 'pg\\_toast\\_temp\\_%'`
  return ''
}

/** A catalog's baseline: its row count when the horizon was taken. */
export interface CatalogBaseline {
  /** Every row visible then was written by this transaction or an older one. */
  horizon: string
  counts: Map<string, number>
  /** The database's own settings (`alter database … set`), as text. */
  settings: string
}

async function present(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `select c.relname as name from pg_class c where c.relnamespace = 'pg_catalog'::regnamespace
        and c.relkind = 'r' and c.relname = any($1::name[])`,
    [GUARDED_CATALOGS],
  )
  return rows.map((r) => r.name).sort()
}

/** The oids of the named catalogs. */
export async function catalogOids(client: pg.Client, names: readonly string[]): Promise<number[]> {
  const { rows } = await client.query<{ oid: number }>(
    `select c.oid from pg_class c where c.relnamespace = 'pg_catalog'::regnamespace and c.relname = any($1::name[])`,
    [names],
  )
  return rows.map((r) => r.oid)
}

const SETTINGS = `select coalesce((select setconfig::text from pg_db_role_setting
   where setdatabase = (select oid from pg_database where datname = current_database()) and setrole = 0), '') as settings`

/** Reads each guarded catalog's row count and takes a horizon after them, in one transaction. */
export async function takeBaseline(
  client: pg.Client,
  catalogs?: string[],
): Promise<CatalogBaseline & { catalogs: string[] }> {
  const names = catalogs ?? (await present(client))
  await client.query('begin isolation level repeatable read')
  try {
    const horizon = (await client.query<{ xid: string }>('select pg_current_xact_id()::xid::text as xid'))
      .rows[0]!.xid
    const { rows } = await client.query<Record<string, string>>(
      `select ${names.map((c) => `(select count(*) from pg_catalog.${c}${filterOf(c)}) as ${c}`).join(', ')}, (${SETTINGS}) as settings`,
    )
    await client.query('commit')
    const row = rows[0]!
    return {
      horizon,
      catalogs: names,
      counts: new Map(names.map((c) => [c, Number(row[c])])),
      settings: row['settings'] ?? '',
    }
  } catch (error) {
    await client.query('rollback').catch(() => {})
    throw error
  }
}

/**
 * The catalogs changed since the baseline (none: nothing a reset in place cannot restore).
 * A delete moves the count, an insert or update leaves a row newer than the horizon.
 */
export async function changedCatalogs(
  client: pg.Client,
  baseline: CatalogBaseline & { catalogs: string[] },
): Promise<string[]> {
  const scans = baseline.catalogs.map(
    (c) =>
      `select '${c}'::text as name where (select count(*) <> ${baseline.counts.get(c) ?? -1}
          or coalesce(bool_or(age(xmin) < age($1::xid)), false) from pg_catalog.${c}${filterOf(c)})`,
  )
  scans.push(`select 'pg_db_role_setting'::text where (${SETTINGS}) <> $2`)
  const { rows } = await client.query<{ name: string }>({
    name: 'pgrig_reset_catalogs',
    text: scans.join('\nunion all\n'),
    values: [baseline.horizon, baseline.settings],
  })
  return rows.map((r) => r.name)
}

/**
 * Ends every other connection to the database but the reset's own, waiting (up to `timeoutMs`)
 * until each is gone, and rolls back the transactions prepared on it: what a dropped clone would
 * have ended. One round trip when there is nothing to end.
 */
export async function endOtherSessions(client: pg.Client, timeoutMs = 5000): Promise<void> {
  const { rows } = await client.query<{ ended: boolean | null; gid: string | null }>({
    name: 'pgrig_reset_terminate',
    text: `select pg_terminate_backend(pid, $1) as ended, null as gid from pg_stat_activity
            where datname = current_database() and pid <> pg_backend_pid() and backend_type = 'client backend'
           union all
           select null, gid from pg_prepared_xacts where database = current_database()`,
    values: [timeoutMs],
  })
  // false: timed out, or the backend had already left (a warning then); only one still there counts.
  if (rows.some((r) => r.ended === false)) {
    const left = await client.query(
      `select from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()
          and backend_type = 'client backend'`,
    )
    if (left.rows.length > 0) throw new Error('connections to the worker database did not end in time')
  }
  for (const { gid } of rows) {
    if (gid !== null) await client.query(`rollback prepared '${gid.replaceAll("'", "''")}'`)
  }
}
