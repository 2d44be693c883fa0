import { chmod, mkdir, stat } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'

export function cacheDir(): string {
  const explicit = process.env.PGRIG_CACHE_DIR
  if (explicit) return resolve(explicit)
  // As root PostgreSQL runs as an unprivileged user, who cannot get through /root (0700) to
  // binaries cached under root's home; a system-wide cache stays reachable for that user.
  if (typeof process.getuid === 'function' && process.getuid() === 0) return '/var/cache/pgrig'
  if (process.platform === 'win32' && process.env.LOCALAPPDATA) {
    return join(process.env.LOCALAPPDATA, 'pgrig', 'cache')
  }
  // The XDG spec says to ignore relative values.
  const xdg = process.env.XDG_CACHE_HOME
  if (xdg && xdg.startsWith('/')) return join(xdg, 'pgrig')
  return join(homedir(), '.cache', 'pgrig')
}

/** Holds one folder per full package version, each laid out like the npm package (`native/...`). */
export function enginesDir(): string {
  return join(cacheDir(), 'engines')
}

export function engineCacheDir(packageVersion: string): string {
  return join(enginesDir(), packageVersion)
}

/**
 * mkdir -p whose new folders end up 0755 whatever the umask, so an unprivileged postgres
 * user can traverse into engines cached by root. One level at a time below the nearest folder
 * that exists: Node's recursive mkdir spins forever under /proc.
 */
export async function ensureWorldReadableDir(path: string): Promise<void> {
  const missing: string[] = []
  for (let dir = resolve(path); !(await isThere(dir)); dir = dirname(dir)) {
    missing.unshift(dir)
    if (dir === dirname(dir)) break
  }
  for (const dir of missing) {
    try {
      await mkdir(dir, { mode: 0o755 })
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue
      throw error
    }
    await chmod(dir, 0o755)
  }
}

async function isThere(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw error
  }
}
