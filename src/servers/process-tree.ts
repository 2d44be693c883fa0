import fs from 'node:fs'

/**
 * Every process a companion or a run's command starts carries this variable (`<runId>.<name>`):
 * a grandchild that left the process group (`setsid`, a double fork) still has it, so stopping the
 * companion finds and stops it too. Processes inherit it unless they clear their environment.
 */
export const PROCESS_TAG_ENV = 'PGRIG_PROCESS_TAG'

export function processTag(runId: string, name: string): string {
  return `${runId}.${name}`
}

/** The environment without a tag: for processes that must outlive the tree they were started from (a run's reaper). */
export function untaggedEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const { [PROCESS_TAG_ENV]: _tag, ...rest } = env
  return rest
}

/** Fields of /proc/<pid>/stat after the command name: [state, ppid, pgrp, …]; undefined without /proc or the process. */
function statFields(pid: number | string): string[] | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined
  }
}

/**
 * When the process started, in clock ticks since boot (field 22 of /proc/<pid>/stat): the same
 * across `exec`, different for a later process that was given the same pid.
 */
export function startTimeOf(pid: number): number | undefined {
  const field = statFields(pid)?.[19]
  return field === undefined ? undefined : Number(field)
}

function procPids(): string[] | undefined {
  try {
    return fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name))
  } catch {
    return undefined
  }
}

export interface TreePids {
  /** Live members of the process group. */
  group: number[]
  /** Live processes carrying the tag, in the group or not. */
  tagged: number[]
}

/**
 * One pass over /proc: the live (non-zombie) members of group `pgid` and the live processes whose
 * environment carries `tag` (this process excluded). `since` (a start time, see `startTimeOf`)
 * skips older processes before their environment is read: a tagged process descends from the one
 * tagged first, and environments cost several times what stat lines do. Undefined without /proc.
 */
export function treePids(o: {
  pgid?: number
  tag?: string
  since?: number | undefined
}): TreePids | undefined {
  const entries = procPids()
  if (!entries) return undefined
  const needle = o.tag === undefined ? undefined : Buffer.from(`\0${PROCESS_TAG_ENV}=${o.tag}\0`)
  const found: TreePids = { group: [], tagged: [] }
  for (const entry of entries) {
    const pid = Number(entry)
    if (pid === process.pid) continue
    const fields = statFields(entry)
    if (!fields || fields[0] === 'Z') continue
    if (o.pgid !== undefined && Number(fields[2]) === o.pgid) found.group.push(pid)
    if (!needle || (o.since !== undefined && Number(fields[19]) < o.since)) continue
    let environ: Buffer
    try {
      // Only this user's processes (any, as root) can be read: never a stranger's.
      environ = fs.readFileSync(`/proc/${entry}/environ`)
    } catch {
      continue
    }
    // The first variable has no NUL before it.
    if (environ.indexOf(needle) >= 0 || environ.subarray(0, needle.length - 1).equals(needle.subarray(1))) {
      found.tagged.push(pid)
    }
  }
  return found
}

/** Live processes whose environment carries `tag` (see `treePids`); empty without /proc. */
export function taggedPids(tag: string, since?: number): number[] {
  return treePids({ tag, since })?.tagged ?? []
}

/** Live (non-zombie) members of the process group `pgid`; undefined without /proc. */
export function groupPids(pgid: number): number[] | undefined {
  return treePids({ pgid })?.group
}
