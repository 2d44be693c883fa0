import fs from 'node:fs'
import path from 'node:path'

/** True when `pid` is a live process; a zombie waiting for its parent to reap it counts as dead. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return true
  }
}

/** True while any live (non-zombie) process of the group led by `pgid` is still around. */
export function isGroupAlive(pgid: number): boolean {
  // Zombies count as members for kill(-pgid, 0), and an orphaned postmaster may wait long for a
  // busy init to reap it, so read /proc where there is one.
  let entries: string[] | undefined
  try {
    entries = fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name))
  } catch {
    entries = undefined
  }
  if (entries) {
    return entries.some((pid) => {
      try {
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        return fields[0] !== 'Z' && Number(fields[2]) === pgid
      } catch {
        return false
      }
    })
  }
  try {
    process.kill(-pgid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export function signal(pid: number, sig: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, sig)
    return true
  } catch {
    return false
  }
}

export async function waitUntil(check: () => boolean, timeoutMs: number, stepMs = 10): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) return false
    await new Promise((resolve) => setTimeout(resolve, stepMs))
  }
  return true
}

/**
 * The postmaster pid recorded in a data dir, if that process is alive and really a postgres:
 * pids get reused, and pgrig must never signal a process it did not start.
 */
export function livePostmasterPid(dataDir: string): number | undefined {
  let pid: number
  try {
    pid = Number(fs.readFileSync(`${dataDir}/postmaster.pid`, 'utf8').split('\n')[0])
  } catch {
    return undefined
  }
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    if (!cmdline.includes('postgres')) return undefined
  } catch {
    // no /proc (macOS): the pid file plus a live pid is the best evidence there is
  }
  return pid
}

/**
 * Live `postgres -D <dir>` processes whose data dir lies in one of `roots` (Linux: read from /proc).
 * Finds a postmaster that has not written its pid file yet, or whose start no state file recorded.
 */
export function postmastersUnder(roots: string[]): number[] {
  const prefixes = roots.map((root) => path.resolve(root))
  const inside = (dir: string) => prefixes.some((p) => dir === p || dir.startsWith(`${p}${path.sep}`))
  let entries: string[]
  try {
    entries = fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name))
  } catch {
    return []
  }
  const found: number[] = []
  for (const entry of entries) {
    let argv: string[]
    try {
      argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0')
    } catch {
      continue
    }
    if (path.basename(argv[0] ?? '') !== 'postgres') continue
    const at = argv.indexOf('-D')
    const dir = at >= 0 ? argv[at + 1] : undefined
    if (dir && inside(path.resolve(dir)) && isAlive(Number(entry))) found.push(Number(entry))
  }
  return found
}
