import { isAlive } from '../servers/process-alive.js'
import { listRuns } from '../servers/run-dir.js'
import { withClient } from './admin.js'
import { quoteIdentifier } from '../servers/sql-quote.js'
import { ownerOf } from './guard.js'
import { heldRunKeys, runLockKey } from './run-lock.js'

/** Run ids whose owner still lives (or that were started detached and not yet taken down). */
export function liveRunIds(): Set<string> {
  return new Set(listRuns().flatMap((run) => (run.detached || isAlive(run.ownerPid) ? [run.runId] : [])))
}

/**
 * Drops the clones, worker databases and half-built templates of runs that are gone. Only
 * databases named by pgrig's rule that carry its ownership marker (or the birth marks of one whose
 * creator died before marking it) are considered; finished templates are kept for reuse.
 * A run is gone only when it is not alive here (`alive`, the local run folders) and holds no run
 * lock on the server (`holdRunLock`): runs of other machines sharing the server are left alone.
 */
export function dropLeftovers(
  adminUrl: string,
  alive: (runId: string) => boolean = (
    (live) => (id: string) =>
      live.has(id)
  )(liveRunIds()),
): Promise<string[]> {
  return dropOwned(adminUrl, (runId, held) => !alive(runId) && !held.has(runLockKey(runId)))
}

/**
 * Drops one run's own clones, worker databases and half-built templates, its run lock or not: what
 * a run interrupted by a signal would leave on a server that outlives it (an external one, `pgrig up`'s).
 */
export function dropRunDatabases(adminUrl: string, runId: string): Promise<string[]> {
  return dropOwned(adminUrl, (owner) => owner === runId)
}

async function dropOwned(
  adminUrl: string,
  doomed: (runId: string, heldLocks: Set<number>) => boolean,
): Promise<string[]> {
  return withClient(adminUrl, async (client) => {
    const { rows } = await client.query<{
      datname: string
      comment: string | null
      datallowconn: boolean
      datconnlimit: number
    }>(
      "select datname, shobj_description(oid, 'pg_database') as comment, datallowconn, datconnlimit from pg_database where datname like 'pgrig\\_%'",
    )
    const held = await heldRunKeys(client)
    const dropped: string[] = []
    for (const row of rows) {
      // The name must follow pgrig's rule AND the marker (or birth marks) agree with it.
      const marker = ownerOf({
        name: row.datname,
        comment: row.comment,
        allowConnections: row.datallowconn,
        connectionLimit: row.datconnlimit,
      })
      if (!marker || !doomed(marker.runId, held)) continue
      const halfBuilt = marker.kind === 'template' && row.datname.startsWith('pgrig_tplb_')
      if (marker.kind === 'template' && !halfBuilt) continue
      await client.query(`drop database if exists ${quoteIdentifier(row.datname)} with (force)`)
      dropped.push(row.datname)
    }
    return dropped
  })
}
