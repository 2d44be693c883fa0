import pg from 'pg'
import { PgrigError } from '../../errors.js'
import { quoteIdentifier, quoteLiteral } from '../../servers/sql-quote.js'
import { databaseOf, withAdmin, type AdminTarget } from './admin.js'

export type SettingValue = string | number | boolean

/**
 * Where session defaults go. Nothing given: the target's own database (`ALTER DATABASE … SET`).
 * `role` alone: that role in every database (`ALTER ROLE … SET`). Both: that role in that
 * database only (`ALTER ROLE … IN DATABASE … SET`), which leaves other tests' users alone.
 */
export interface SettingsScope {
  database?: string
  role?: string
}

export interface AppliedSettings extends AsyncDisposable {
  readonly settings: Readonly<Record<string, string>>
  /** Puts back what was there before (or RESETs what was not); calling it again does nothing. */
  restore(): Promise<void>
}

/** `database` is '' for a role's default in every database. */
function scopeClause(database: string, role: string | undefined): string {
  if (role === undefined) return `alter database ${quoteIdentifier(database)}`
  const inDatabase = database ? ` in database ${quoteIdentifier(database)}` : ''
  return `alter role ${quoteIdentifier(role)}${inDatabase}`
}

function render(value: SettingValue): string {
  if (typeof value === 'boolean') return value ? 'on' : 'off'
  return String(value)
}

/**
 * Sets per-database or per-role session defaults for the length of a test and restores them
 * afterwards. They reach sessions that start after this returns, not those already open (a pool
 * must reconnect, e.g. after `terminateBackends`). Plain numbers are in the setting's base unit
 * (milliseconds for timeouts, kilobytes for memory and temp-file sizes), as in postgresql.conf.
 */
export async function setSessionDefaults(
  target: AdminTarget,
  settings: Record<string, SettingValue | undefined>,
  scope: SettingsScope = {},
): Promise<AppliedSettings> {
  const entries = Object.entries(settings).flatMap(([key, value]) =>
    value === undefined ? [] : [[key, render(value)] as const],
  )
  const database = scope.database ?? (scope.role === undefined ? databaseOf(target) : '')
  const where = scopeClause(database, scope.role)
  const before = await withAdmin(target, async (client) => {
    const previous = await currentDefaults(client, database, scope.role)
    try {
      for (const [key, value] of entries) {
        await client.query(`${where} set ${quoteIdentifier(key)} to ${quoteLiteral(value)}`)
      }
    } catch (error) {
      await putBack(client, where, previous, entries).catch(() => {})
      throw new PgrigError(
        'E_FAULT_FAILED',
        `could not set ${entries.map(([k, v]) => `${k}=${v}`).join(', ')} (${where.replace(/^alter /, '')}): ${(error as Error).message}`,
        { cause: error },
      )
    }
    return previous
  })
  let restoring: Promise<void> | undefined
  const restore = () => (restoring ??= withAdmin(target, (client) => putBack(client, where, before, entries)))
  return { settings: Object.fromEntries(entries), restore, [Symbol.asyncDispose]: restore }
}

async function currentDefaults(
  client: pg.Client,
  database: string,
  role: string | undefined,
): Promise<Map<string, string>> {
  const { rows } = await client.query<{ setconfig: string[] | null }>(
    `select setconfig from pg_db_role_setting
      where setdatabase = coalesce((select oid from pg_database where datname = $1), 0)
        and setrole = coalesce((select oid from pg_roles where rolname = $2), 0)`,
    [database, role ?? ''],
  )
  const current = new Map<string, string>()
  for (const item of rows[0]?.setconfig ?? []) {
    const at = item.indexOf('=')
    current.set(item.slice(0, at), item.slice(at + 1))
  }
  return current
}

async function putBack(
  client: pg.Client,
  where: string,
  previous: Map<string, string>,
  entries: readonly (readonly [string, string])[],
): Promise<void> {
  for (const [key] of entries) {
    const old = previous.get(key)
    await client.query(
      old === undefined
        ? `${where} reset ${quoteIdentifier(key)}`
        : `${where} set ${quoteIdentifier(key)} to ${quoteLiteral(old)}`,
    )
  }
}

export interface Timeouts {
  statement_timeout?: SettingValue
  lock_timeout?: SettingValue
  idle_in_transaction_session_timeout?: SettingValue
  /** PostgreSQL 17+. */
  transaction_timeout?: SettingValue
  idle_session_timeout?: SettingValue
}

/**
 * Timeouts for new sessions in scope, restored on dispose. Clients then see 57014
 * (query_canceled, statement_timeout), 55P03 (lock_not_available, lock_timeout), 25P03
 * (idle_in_transaction_session_timeout) and 25P04 (transaction_timeout); the last two close the
 * connection.
 */
export function setTimeouts(target: AdminTarget, timeouts: Timeouts, scope: SettingsScope = {}) {
  return setSessionDefaults(target, { ...timeouts }, scope)
}

/**
 * What PostgreSQL lets one cap per session: `temp_file_limit` (a query that spills more fails with
 * 53400, configuration_limit_exceeded; superuser-only, which is why this goes through the
 * superuser) and the per-operation memory budgets `work_mem`, `maintenance_work_mem` and
 * `hash_mem_multiplier` (sorts and hashes spill to temp files instead of failing). PostgreSQL has
 * no per-session or total memory limit; use `ulimit`/cgroups around the server for that.
 */
export interface ResourceCaps {
  temp_file_limit?: SettingValue
  work_mem?: SettingValue
  maintenance_work_mem?: SettingValue
  hash_mem_multiplier?: SettingValue
}

export function capResources(target: AdminTarget, caps: ResourceCaps, scope: SettingsScope = {}) {
  return setSessionDefaults(target, { ...caps }, scope)
}
