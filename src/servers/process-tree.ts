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

/**
 * Live (non-zombie) processes whose environment carries `tag`, this process excluded; empty without
 * /proc. `since` (a start time, see `startTimeOf`) skips older processes before their environment
 * is read: a tagged process descends from the one tagged first, and reading every environment on a
 * busy machine costs ~15 ms where reading every stat costs ~2 ms.
 */
export function taggedPids(tag: string, since?: number): number[] {
  const needle = Buffer.from(`\0${PROCESS_TAG_ENV}=${tag}\0`)
  const found: number[] = []
  for (const entry of procPids() ?? []) {
    const pid = Number(entry)
    if (pid === process.pid) continue
    const fields = statFields(entry)
    if (!fields || fields[0] === 'Z') continue
    if (since !== undefined && Number(fields[19]) < since) continue
    let environ: Buffer
    try {
      // Only this user's processes (any, as root) can be read: never a stranger's.
      environ = fs.readFileSync(`/proc/${entry}/environ`)
    } catch {
      continue
    }
    // The first variable has no NUL before it.
    if (environ.indexOf(needle) >= 0 || environ.subarray(0, needle.length - 1).equals(needle.subarray(1))) {
      found.push(pid)
    }
  }
  return found
}

/** Live (non-zombie) members of the process group `pgid`; undefined without /proc. */
export function groupPids(pgid: number): number[] | undefined {
  const entries = procPids()
  if (!entries) return undefined
  return entries.flatMap((entry) => {
    const fields = statFields(entry)
    return fields && fields[0] !== 'Z' && Number(fields[2]) === pgid ? [Number(entry)] : []
  })
}
