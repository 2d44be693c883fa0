import { realpathSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { RunAs } from './types.js'
import { executable, packageRootOf } from './package-files.js'

const READ = 4
const EXECUTE = 1

/**
 * Classic Unix permission check for a uid whose only group is `gid` (we drop supplementary groups).
 * A sync stat: every start makes a dozen of these, microseconds each, where a promise each cost a
 * thread-pool round trip and an event-loop turn (on a busy machine, milliseconds of a first start).
 */
async function allows(path: string, who: RunAs, wanted: number): Promise<boolean> {
  let info
  try {
    info = statSync(path)
  } catch {
    return false
  }
  const shift = info.uid === who.uid ? 6 : info.gid === who.gid ? 3 : 0
  return ((info.mode >> shift) & wanted) === wanted
}

/** The first folder from `/` down to `dir` that `who` cannot traverse, if any. */
export async function firstBlockedFolder(dir: string, who: RunAs): Promise<string | undefined> {
  if (process.platform === 'win32') return undefined
  const chain: string[] = []
  for (let at = dir; ; at = dirname(at)) {
    chain.unshift(at)
    if (at === dirname(at)) break
  }
  for (const folder of chain) if (!(await allows(folder, who, EXECUTE))) return folder
  return undefined
}

/**
 * Whether `who` can run the server in `binDir`: every folder from / down must be traversable,
 * the binaries executable, and the engine's lib and share folders listable, since postgres
 * loads libraries and timezone/encoding files from them.
 */
export async function isReachableBy(binDir: string, who: RunAs): Promise<boolean> {
  if (process.platform === 'win32') return true
  let bin: string
  try {
    bin = realpathSync(binDir)
  } catch {
    return false
  }
  if (await firstBlockedFolder(bin, who)) return false
  for (const name of ['postgres', 'initdb']) {
    if (!(await allows(join(bin, executable(name)), who, READ | EXECUTE))) return false
  }
  const native = join(packageRootOf(bin), 'native')
  for (const dir of [join(native, 'lib'), join(native, 'share')]) {
    if (!(await allows(dir, who, READ | EXECUTE))) return false
  }
  return true
}
