import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { cacheDir, enginesDir } from '../engine/cache-dir.js'
import { PgrigError } from '../errors.js'
import { makeDir } from './make-dir.js'
import type { RunAs } from './os-user.js'

const myUid = () => (typeof process.getuid === 'function' ? process.getuid() : undefined)

function userName(uid: number): string {
  try {
    const name = execFileSync('getent', ['passwd', String(uid)], { encoding: 'utf8' }).split(':')[0]
    if (name) return `${name} (uid ${uid})`
  } catch {
    // no getent, or no such user
  }
  return `uid ${uid}`
}

/**
 * Why `dir` is no folder of this user's own to keep servers in (a link, not a folder, another
 * owner, writable by others), as ssh and tmux judge their folders; `undefined` when it is fine or absent.
 */
export function unsafeFolderReason(dir: string, alsoOwner?: number): string | undefined {
  let stats: fs.Stats
  try {
    stats = fs.lstatSync(dir)
  } catch {
    return undefined
  }
  const mode = (stats.mode & 0o7777).toString(8).padStart(4, '0')
  if (stats.isSymbolicLink())
    return `it is a symbolic link (to ${safeReadlink(dir)}), which pgrig never follows`
  if (!stats.isDirectory()) return 'it is not a folder'
  const uid = myUid()
  if (uid !== undefined && stats.uid !== uid && stats.uid !== alsoOwner) {
    return `it is owned by ${userName(stats.uid)} with mode ${mode}, not by you (${userName(uid)})`
  }
  if ((stats.mode & 0o022) !== 0)
    return `it is owned by ${userName(stats.uid)} with mode ${mode}: others can write to it`
  return undefined
}

function safeReadlink(file: string): string {
  try {
    return fs.readlinkSync(file)
  } catch {
    return '?'
  }
}

/** Throws the one-line refusal for a folder pgrig will not use; see `unsafeFolderReason`. */
export function assertSafeFolder(dir: string, hint: string, alsoOwner?: number): void {
  const reason = unsafeFolderReason(dir, alsoOwner)
  if (!reason) return
  throw new PgrigError(
    'E_UNSAFE_FOLDER',
    `refusing ${dir}: ${reason}, so another user could host, rename or hide pgrig's servers there; ${hint}`,
  )
}

/**
 * Makes `dir` (its parent made as needed) and checks it is this user's own, not a link and not
 * writable by others; leaves it at `mode`. A folder someone else made first is refused, never chmod'ed.
 */
export function ensureSafeFolder(dir: string, mode: number, hint: string): void {
  try {
    fs.mkdirSync(dir, { mode })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') {
      fs.mkdirSync(dir, { recursive: true, mode })
    } else if (code !== 'EEXIST') {
      throw error
    }
  }
  assertSafeFolder(dir, hint)
  // Made with the umask; the unprivileged server user must traverse it.
  if ((fs.lstatSync(dir).mode & 0o777) !== mode) fs.chmodSync(dir, mode)
}

/**
 * The cache holds binaries pgrig runs and data dirs it copies into every server: a folder of it
 * another user could write to (PGRIG_CACHE_DIR in /tmp, say) is refused like the run root.
 */
export function assertSafeCache(runAs: RunAs | undefined): void {
  ensureCacheDir()
  const hint = 'set PGRIG_CACHE_DIR to a folder of your own that others cannot write to'
  assertSafeFolder(cacheDir(), hint)
  assertSafeFolder(enginesDir(), hint)
  // As root, the server user pgrig runs as builds the data-dir templates, and owns their folder.
  assertSafeFolder(path.join(cacheDir(), 'datadirs'), hint, runAs?.uid)
}

/**
 * The cache folder, made if absent: one line when it cannot be (under /proc, /sys, a file, no
 * permission) instead of Node's recursive mkdir, which spins forever under /proc.
 */
export function ensureCacheDir(): string {
  const explicit = process.env.PGRIG_CACHE_DIR
  return makeDir(cacheDir(), {
    what: explicit
      ? 'PGRIG_CACHE_DIR, where pgrig caches engines and data dir templates'
      : 'the cache folder',
    code: 'E_CACHE_UNUSABLE',
    hint: 'set PGRIG_CACHE_DIR to a folder of your own you can write to (e.g. ~/.cache/pgrig)',
  })
}
