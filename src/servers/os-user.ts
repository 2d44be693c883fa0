import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import { PgrigError } from '../errors.js'
import type { RunAs } from '../engine/types.js'

/** The identity initdb and postgres run under; `undefined` when pgrig itself is not root. */
export type { RunAs }

function fromPasswdLine(name: string, line: string | undefined): RunAs | undefined {
  const [, , uid, gid] = (line ?? '').trim().split(':')
  if (!uid || !gid) return undefined
  return { name, uid: Number(uid), gid: Number(gid) }
}

/**
 * /etc/passwd first (a read, where `getent` is a process of its own on every first start), then
 * `getent` for accounts only the name service knows (LDAP, systemd's dynamic users).
 */
function lookup(name: string): RunAs | undefined {
  try {
    const lines = fs.readFileSync('/etc/passwd', 'utf8').split('\n')
    const local = fromPasswdLine(
      name,
      lines.find((line) => line.startsWith(`${name}:`)),
    )
    if (local) return local
  } catch {
    // no /etc/passwd to read: ask the name service
  }
  try {
    return fromPasswdLine(name, execFileSync('getent', ['passwd', name], { encoding: 'utf8' }))
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
