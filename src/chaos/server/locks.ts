import { PgrigError } from '../../errors.js'
import { quoteIdentifier } from '../../servers/sql-quote.js'
import { adminClient, type AdminTarget } from './admin.js'

export const TABLE_LOCK_MODES = [
  'ACCESS SHARE',
  'ROW SHARE',
  'ROW EXCLUSIVE',
  'SHARE UPDATE EXCLUSIVE',
  'SHARE',
  'SHARE ROW EXCLUSIVE',
  'EXCLUSIVE',
  'ACCESS EXCLUSIVE',
] as const
export const ROW_LOCK_MODES = ['FOR UPDATE', 'FOR NO KEY UPDATE', 'FOR SHARE', 'FOR KEY SHARE'] as const
export type TableLockMode = (typeof TABLE_LOCK_MODES)[number]
export type RowLockMode = (typeof ROW_LOCK_MODES)[number]

interface LockCommon {
  /** Table name, optionally schema-qualified (`billing.invoices`). */
  table: string
  /** Database the table lives in; the server's own database by default. */
  database?: string
  /** Release by itself after this long; until `release()` otherwise. */
  forMs?: number
}

/** `LOCK TABLE … IN <mode> MODE`; ACCESS EXCLUSIVE (blocks even reads) by default. */
export interface TableLock extends LockCommon {
  mode?: TableLockMode
  row?: undefined
}

/** `SELECT … <mode>` on the rows whose columns equal `row`'s values; FOR UPDATE by default. */
export interface RowLock extends LockCommon {
  row: Record<string, unknown>
  mode?: RowLockMode
}

export interface HeldLock extends AsyncDisposable {
  /** Backend pid of the session holding the lock (for `pg_blocking_pids` and the like). */
  readonly pid: number
  /** Rows the row lock covers; 0 for a table lock. */
  readonly rows: number
  /** Ends the holding transaction; calling it again does nothing. */
  release(): Promise<void>
}

function qualified(table: string): string {
  return table
    .split('.')
    .map((part) => quoteIdentifier(part))
    .join('.')
}

/**
 * Holds a table or row lock from a separate superuser session in an open transaction, so other
 * clients wait on it (wait_event_type 'Lock') or, with `lock_timeout` set, fail with SQLSTATE
 * 55P03 (lock_not_available); `NOWAIT` / `SKIP LOCKED` callers see the same.
 */
export async function holdLock(target: AdminTarget, lock: TableLock | RowLock): Promise<HeldLock> {
  const allowed: readonly string[] = lock.row ? ROW_LOCK_MODES : TABLE_LOCK_MODES
  const mode = lock.mode ?? (lock.row ? 'FOR UPDATE' : 'ACCESS EXCLUSIVE')
  if (!allowed.includes(mode)) {
    throw new PgrigError(
      'E_USAGE',
      `holdLock: "${mode}" is not a ${lock.row ? 'row' : 'table'} lock mode; use one of ${allowed.join(', ')}`,
    )
  }
  const client = await adminClient(target, lock.database)
  let rows = 0
  try {
    await client.query('begin')
    const { rows: pidRows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid')
    if (lock.row) {
      const columns = Object.keys(lock.row)
      if (columns.length === 0) throw new PgrigError('E_USAGE', 'holdLock: row needs at least one column')
      const where = columns.map((column, i) => `${quoteIdentifier(column)} = $${i + 1}`).join(' and ')
      const result = await client.query(
        `select 1 from ${qualified(lock.table)} where ${where} ${mode}`,
        Object.values(lock.row),
      )
      rows = result.rowCount ?? 0
      if (rows === 0) {
        throw new PgrigError(
          'E_FAULT_FAILED',
          `holdLock: no row of ${lock.table} matches ${JSON.stringify(lock.row)}, so there is nothing to lock`,
        )
      }
    } else {
      await client.query(`lock table ${qualified(lock.table)} in ${mode} mode`)
    }
    const pid = pidRows[0]!.pid
    let releasing: Promise<void> | undefined
    let timer: NodeJS.Timeout | undefined
    const release = () =>
      (releasing ??= (async () => {
        if (timer) clearTimeout(timer)
        await client.query('rollback').catch(() => {})
        await client.end().catch(() => {})
      })())
    if (lock.forMs !== undefined) {
      timer = setTimeout(() => void release(), lock.forMs)
      timer.unref()
    }
    return { pid, rows, release, [Symbol.asyncDispose]: release }
  } catch (error) {
    await client.end().catch(() => {})
    if (error instanceof PgrigError) throw error
    throw new PgrigError('E_FAULT_FAILED', `holdLock on ${lock.table} failed: ${(error as Error).message}`, {
      cause: error,
    })
  }
}
