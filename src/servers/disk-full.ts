import fs from 'node:fs'
import path from 'node:path'
import { PgrigError } from '../errors.js'

const NO_SPACE = /No space left on device|ENOSPC/

/** An error (a Node errno, a failed command's stderr) that says the file system is full. */
export function isDiskFull(error: unknown): boolean {
  if (error instanceof PgrigError) return error.code === 'E_DISK_FULL'
  const e = error as { code?: unknown; message?: unknown; stderr?: unknown } | undefined
  return e?.code === 'ENOSPC' || NO_SPACE.test(`${String(e?.stderr ?? '')}${String(e?.message ?? '')}`)
}

/** The nearest existing folder at or above `dir`. */
function existing(dir: string): string {
  let at = path.resolve(dir)
  while (!fs.existsSync(at) && at !== path.dirname(at)) at = path.dirname(at)
  return at
}

/** Where the file system holding `dir` is mounted, its size and what is free (after pgrig removed its partial copy). */
function fileSystemOf(dir: string): string {
  let at = existing(dir)
  try {
    const dev = fs.statSync(at).dev
    while (at !== path.dirname(at) && fs.statSync(path.dirname(at)).dev === dev) at = path.dirname(at)
    const stats = fs.statfsSync(at)
    const mb = (blocks: number) => `${Math.floor((blocks * stats.bsize) / 1024 / 1024)} MB`
    return `${at} (${mb(stats.blocks)}, ${mb(stats.bavail)} free now)`
  } catch {
    return at
  }
}

/**
 * The one line for a full disk: what pgrig was writing, where, and the ways out (free space,
 * drop cached templates, another folder). The file system is named by a folder on it.
 */
export function diskFull(doing: string, dir: string, cause?: unknown): PgrigError {
  if (cause instanceof PgrigError && cause.code === 'E_DISK_FULL') return cause
  return new PgrigError(
    'E_DISK_FULL',
    `${doing} failed: the file system at ${fileSystemOf(dir)} ran out of space; free space there, drop cached templates with pgrig cache clean, or point pgrig at another folder (PGRIG_TMPFS_DIR for data dirs on tmpfs, PGRIG_RUN_ROOT, PGRIG_CACHE_DIR)`,
    { cause },
  )
}
