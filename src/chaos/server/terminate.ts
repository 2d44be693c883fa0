import { PgrigError } from '../../errors.js'
import { markDestructive } from '../destructive.js'
import { withAdmin, type AdminTarget } from './admin.js'

/** Which client backends to end; every given field must match. */
export interface BackendMatch {
  pid?: number | number[]
  applicationName?: string | RegExp
  user?: string
  database?: string
  /** Substring of, or pattern over, the backend's current (or last) statement. */
  query?: string | RegExp
  /** Required to end every client backend, so an empty match cannot do that by accident. */
  all?: true
}

export interface Backend {
  pid: number
  applicationName: string
  user: string
  database: string
  state: string | null
  query: string
}

interface ActivityRow {
  pid: number
  application_name: string
  usename: string
  datname: string
  state: string | null
  query: string
}

function matches(value: string, wanted: string | RegExp | undefined, exact: boolean): boolean {
  if (wanted === undefined) return true
  if (typeof wanted !== 'string') return wanted.test(value)
  return exact ? value === wanted : value.includes(wanted)
}

function selects(match: BackendMatch, backend: Backend): boolean {
  const pids = match.pid === undefined ? undefined : [match.pid].flat()
  return (
    (pids === undefined || pids.includes(backend.pid)) &&
    matches(backend.applicationName, match.applicationName, true) &&
    matches(backend.user, match.user, true) &&
    matches(backend.database, match.database, true) &&
    matches(backend.query, match.query, false)
  )
}

/** Client backends other than the asking session, as `pg_stat_activity` shows them. */
export async function listBackends(target: AdminTarget): Promise<Backend[]> {
  return withAdmin(target, async (client) => {
    const { rows } = await client.query<ActivityRow>(
      `select pid, application_name, usename, datname, state, query
         from pg_stat_activity
        where backend_type = 'client backend' and pid <> pg_backend_pid()`,
    )
    return rows.map(toBackend)
  })
}

function toBackend(row: ActivityRow): Backend {
  return {
    pid: row.pid,
    applicationName: row.application_name,
    user: row.usename,
    database: row.datname,
    state: row.state,
    query: row.query,
  }
}

/**
 * Ends the matching client backends with `pg_terminate_backend`, waiting until each has exited;
 * their clients see SQLSTATE 57P01 (admin_shutdown). Returns the backends it ended. Nothing to
 * undo: a client has to reconnect, which is what this fault tests.
 */
export const terminateBackends = markDestructive(async function terminateBackends(
  target: AdminTarget,
  match: BackendMatch,
  options: { waitMs?: number } = {},
): Promise<Backend[]> {
  const criteria = Object.entries(match).filter(([key, value]) => key !== 'all' && value !== undefined)
  if (criteria.length === 0 && match.all !== true) {
    throw new PgrigError(
      'E_USAGE',
      'terminateBackends was given no pid, applicationName, user, database or query, so it would end every session; pass a match, or { all: true } if that is what you want',
    )
  }
  const waitMs = options.waitMs ?? 5000
  return withAdmin(target, async (client) => {
    const { rows } = await client.query<ActivityRow>(
      `select pid, application_name, usename, datname, state, query
         from pg_stat_activity
        where backend_type = 'client backend' and pid <> pg_backend_pid()`,
    )
    const victims = rows.map(toBackend).filter((backend) => selects(match, backend))
    const ended: Backend[] = []
    for (const victim of victims) {
      // The two-argument form waits for the backend to exit, so the caller's next step sees it gone.
      const { rows: done } = await client.query<{ ok: boolean }>(
        'select pg_terminate_backend($1, $2) as ok',
        [victim.pid, waitMs],
      )
      if (done[0]?.ok) ended.push(victim)
    }
    return ended
  })
})
