import fs from 'node:fs'
import path from 'node:path'
import { PgrigError, type PgrigErrorCode } from '../errors.js'

export interface MakeDirOptions {
  /** What the folder is for, as the user named it: `--cert-dir /x`, `TMPDIR (/tmp/x)`. */
  what: string
  code: PgrigErrorCode
  /** What to do instead, the end of the line. */
  hint: string
  /** Only use an existing folder; never create one (init ci --dir). */
  mustExist?: boolean
  mode?: number
}

function reason(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied'
    case 'EROFS':
      return 'the file system is read-only'
    case 'ENOTDIR':
      return 'a part of the path is a file, not a folder'
    case 'ENOSPC':
      return 'the disk is full'
    case 'ENOENT':
      return 'that place cannot hold folders'
    default:
      return error.message
  }
}

/**
 * Makes sure `dir` is a folder this process can write, creating the missing levels one at a time
 * below the nearest folder that exists (Node's recursive mkdir loops forever under /proc). Every
 * failure is one PgrigError line naming the folder, why, and the hint.
 */
export function makeDir(dir: string, options: MakeDirOptions): string {
  const abs = path.resolve(dir)
  const fail = (why: string): never => {
    throw new PgrigError(options.code, `${options.what}: ${abs} ${why}; ${options.hint}`)
  }
  const missing: string[] = []
  let existing = abs
  for (;;) {
    let stats: fs.Stats | undefined
    try {
      stats = fs.statSync(existing)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      if (code !== 'ENOENT') fail(`cannot be reached (${reason(error as NodeJS.ErrnoException)})`)
    }
    if (stats) {
      if (!stats.isDirectory())
        fail(existing === abs ? 'is a file, not a folder' : `cannot be made: ${existing} is a file`)
      break
    }
    const parent = path.dirname(existing)
    if (parent === existing) break
    missing.unshift(existing)
    existing = parent
  }
  if (missing.length > 0 && options.mustExist) fail(`does not exist (nor ${missing[0]})`)
  try {
    fs.accessSync(existing, fs.constants.W_OK | fs.constants.X_OK)
  } catch (error) {
    const why = reason(error as NodeJS.ErrnoException)
    fail(missing.length ? `cannot be made: ${existing} is not writable (${why})` : `is not writable (${why})`)
  }
  for (const level of missing) {
    try {
      fs.mkdirSync(level, { mode: options.mode ?? 0o755 })
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && fs.statSync(level).isDirectory()) continue
      fail(`cannot be made (${reason(error as NodeJS.ErrnoException)} at ${level})`)
    }
  }
  return abs
}
