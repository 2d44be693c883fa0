import { chmod, mkdir } from 'node:fs/promises'
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
 * user can traverse into engines cached by root.
 */
export async function ensureWorldReadableDir(path: string): Promise<void> {
  const first = await mkdir(path, { recursive: true, mode: 0o755 })
  if (first === undefined) return
  const created: string[] = []
  for (let dir = resolve(path); ; dir = dirname(dir)) {
    created.push(dir)
    if (dir === resolve(first) || dir === dirname(dir)) break
  }
  for (const dir of created) await chmod(dir, 0o755)
}
