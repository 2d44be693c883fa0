import pg from 'pg'

/**
 * Liveness on the server itself: every live run holds a session-level advisory lock keyed by its
 * run id on each server it uses, so runs on other machines, users or TMPDIRs can tell its
 * databases from a dead run's. Shared locks: several sessions of one run may hold it at once.
 */

// First half of the two-int advisory lock key (template builds use 0x70677267).
const RUN_LOCK_SPACE = 0x70677268

/** The second half of the key: a 32-bit FNV-1a hash of the run id. */
export function runLockKey(runId: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < runId.length; i++) {
    h ^= runId.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  return h | 0
}

export interface RunLock {
  release(): Promise<void>
}

/** Holds the run's lock on the server until `release()` (or until this process dies). */
export async function holdRunLock(adminUrl: string, runId: string): Promise<RunLock> {
  const client = new pg.Client({ connectionString: adminUrl })
  // The server going away ends the lock with the connection; that must not crash the process.
  client.on('error', () => {})
  await client.connect()
  try {
    await client.query('select pg_advisory_lock_shared($1, $2)', [RUN_LOCK_SPACE, runLockKey(runId)])
  } catch (error) {
    await client.end().catch(() => {})
    throw error
  }
  let released: Promise<void> | undefined
  return { release: () => (released ??= client.end().catch(() => {})) }
}

/** The lock keys of every run that holds its lock on this server right now. */
export async function heldRunKeys(client: pg.Client): Promise<Set<number>> {
  const { rows } = await client.query<{ key: string }>(
    "select objid::text as key from pg_locks where locktype = 'advisory' and granted and objsubid = 2 and classid = $1::oid",
    [RUN_LOCK_SPACE],
  )
  // objid is an unsigned oid; the key was taken as a signed int4.
  return new Set(rows.map((row) => Number(row.key) | 0))
}
