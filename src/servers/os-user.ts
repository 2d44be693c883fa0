import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import { PgrigError } from '../errors.js'
import type { RunAs } from '../engine/types.js'

/** The identity initdb and postgres run under; `undefined` when pgrig itself is not root. */
export type { RunAs }

function lookup(name: string): RunAs | undefined {
  try {
    const line = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim()
    const [, , uid, gid] = line.split(':')
    if (uid === undefined || gid === undefined) return undefined
    return { name, uid: Number(uid), gid: Number(gid) }
  } catch {
    return undefined
  }
}

let cached: RunAs | undefined | null = null

/**
 * PostgreSQL refuses to run as root, so as root pgrig drops to PGRIG_RUN_AS, else the
 * `postgres` account a distribution package created, else `nobody`.
 */
export function unprivilegedUser(): RunAs | undefined {
  if (cached !== null) return cached
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return (cached = undefined)
  const wanted = process.env.PGRIG_RUN_AS
  const candidates = wanted ? [wanted] : ['postgres', 'nobody']
  for (const name of candidates) {
    const user = lookup(name)
    if (user && user.uid !== 0) return (cached = user)
  }
  throw new PgrigError(
    'E_NO_UNPRIVILEGED_USER',
    wanted
      ? `PGRIG_RUN_AS=${wanted} names no unprivileged user on this machine; PostgreSQL refuses to run as root, so create that user (useradd ${wanted}) or unset PGRIG_RUN_AS`
      : 'no unprivileged user (postgres or nobody) exists to run PostgreSQL, which refuses to run as root; create one (useradd postgres) or set PGRIG_RUN_AS',
  )
}

/** Gives `target` to the server user, when the server runs as one. */
export function own(target: string, runAs: RunAs | undefined): void {
  if (runAs) fs.chownSync(target, runAs.uid, runAs.gid)
}
