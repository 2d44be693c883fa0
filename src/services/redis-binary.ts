import path from 'node:path'
import { PgrigError } from '../errors.js'
import { isExecutable, pathDirs } from './program.js'

const NAMES = ['redis-server', 'valkey-server']
/** Where package managers put the server when PATH (cron, CI images) leaves them out. */
const USUAL_DIRS = ['/usr/bin', '/usr/local/bin', '/usr/sbin', '/opt/homebrew/bin', '/snap/bin']

/** The machine's `redis-server` (or `valkey-server`): an explicit path, then PATH, then the usual folders. */
export function findRedisServer(explicit?: string, usualDirs: string[] = USUAL_DIRS): string {
  if (explicit) {
    if (isExecutable(explicit)) return explicit
    throw new PgrigError(
      'E_REDIS_NOT_FOUND',
      `redis server binary ${explicit} does not exist or is not executable; point redis.binary at redis-server or valkey-server, or leave it out to search PATH`,
    )
  }
  const dirs = [...pathDirs(), ...usualDirs]
  for (const name of NAMES) {
    for (const dir of dirs) {
      const candidate = path.join(dir, name)
      if (isExecutable(candidate)) return candidate
    }
  }
  throw new PgrigError(
    'E_REDIS_NOT_FOUND',
    'redis-server (or valkey-server) was not found on PATH or in /usr/bin, /usr/local/bin; install it: apt-get install redis-server (macOS: brew install redis)',
  )
}
