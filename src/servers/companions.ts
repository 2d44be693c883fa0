import fs from 'node:fs'
import path from 'node:path'
import { isAlive, isGroupAlive, signal, waitUntil } from './process-alive.js'
import { startTimeOf, treePids } from './process-tree.js'
import { runDirOf } from './run-dir.js'

/**
 * A process other than a postmaster that a run owns (a Redis server, say). Recorded in the run dir
 * so the run's reaper, `pgrig down` and stale-run cleanup stop it the same way they stop servers,
 * without the servers layer knowing what the process is.
 */
export interface CompanionRecord {
  name: string
  /** 0 for a command recorded before it was spawned: only its tag finds it then. */
  pid: number
  /** A word the process's command line must contain: pids get reused, and pgrig must never signal a stranger. */
  command: string
  /**
   * The process leads its own process group, and everything in the group is the companion's
   * (`sh -c '…'` and what it runs): stopped together, and alive while any of it is.
   */
  group?: boolean
  /**
   * When `pid` started (/proc/<pid>/stat): the same after the process `exec`s into another program,
   * different for a stranger given the same pid later. Where it is known, it identifies the process
   * instead of `command`.
   */
  startTime?: number
  /** The value of `PGRIG_PROCESS_TAG` its processes inherit: finds those that left the group (a double fork). */
  tag?: string
  /** Dies with the run's owner even when the run is detached (the command of `pgrig run --keep`). */
  withOwner?: boolean
  /** What `pgrig status`, `pgrig env` and `pgrig down` show and export of a configured service. */
  service?: ServiceDetails
}

/** A configured service as the run records it (see src/services). */
export interface ServiceDetails {
  port: number
  /** The service's own folder (`{dir}`). */
  dir: string
  logFile: string
  /** The variables it exports, placeholders filled in. */
  env: Record<string, string>
  /** A one-shot job: recorded once it finished with exit code 0, no process left. */
  once: boolean
  /** What pgrig waited for before calling it ready, e.g. `http://127.0.0.1:9000/minio/health/ready`. */
  ready: string
}

function companionsDir(runId: string): string {
  return path.join(runDirOf(runId), 'companions')
}

export function recordCompanion(runId: string, record: CompanionRecord): void {
  const dir = companionsDir(runId)
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  fs.writeFileSync(path.join(dir, `${record.name}.json`), JSON.stringify(record), { mode: 0o600 })
}

export function forgetCompanion(runId: string, name: string): void {
  fs.rmSync(path.join(companionsDir(runId), `${name}.json`), { force: true })
}

export function listCompanions(runId: string): CompanionRecord[] {
  let files: string[]
  try {
    files = fs.readdirSync(companionsDir(runId)).filter((f) => f.endsWith('.json'))
  } catch {
    return []
  }
  const records: CompanionRecord[] = []
  for (const file of files) {
    try {
      records.push(
        JSON.parse(fs.readFileSync(path.join(companionsDir(runId), file), 'utf8')) as CompanionRecord,
      )
    } catch {
      // half-written by a dying owner: nothing to trust in it
    }
  }
  return records
}

/** True when `record.pid` is the very process the record was made for, alive. */
function leaderAlive(record: CompanionRecord): boolean {
  if (!isAlive(record.pid)) return false
  if (record.startTime !== undefined) {
    const started = startTimeOf(record.pid)
    // no /proc (macOS): a live pid is the best evidence there is
    return started === undefined || started === record.startTime
  }
  try {
    return fs.readFileSync(`/proc/${record.pid}/cmdline`, 'utf8').includes(record.command)
  } catch {
    return true
  }
}

/**
 * The group is the companion's while its leader lives, or once the leader is gone: a pid cannot be
 * given to a new process while a group of that id exists. A live stranger under the leader's pid
 * means the group emptied before the pid was reused.
 */
function ownGroup(record: CompanionRecord): boolean {
  return record.group === true && (!isAlive(record.pid) || leaderAlive(record))
}

/** The live processes of a companion: its leader, its group, and whatever carries its tag (`group`: those of its group). */
function companionPids(record: CompanionRecord): { all: number[]; group: number[] } {
  const all = new Set<number>()
  let group: number[] = []
  const leader = validPid(record) && leaderAlive(record)
  if (leader) all.add(record.pid)
  // Gone when no process has the group's id: one syscall spares a pass over /proc.
  const grouped = validPid(record) && ownGroup(record) && (leader || signal(-record.pid, 0))
  if (grouped || record.tag) {
    const found = treePids({
      ...(grouped ? { pgid: record.pid } : {}),
      ...(record.tag ? { tag: record.tag, since: record.startTime } : {}),
    })
    if (found) {
      group = found.group
      for (const pid of [...found.group, ...found.tagged]) all.add(pid)
    } else if (grouped && isGroupAlive(record.pid)) {
      all.add(record.pid)
      group = [record.pid]
    }
  }
  return { all: [...all], group }
}

function validPid(record: CompanionRecord): boolean {
  return Number.isInteger(record.pid) && record.pid > 0
}

/** True while anything of the companion runs (for a group: while any of it lives; a tagged grandchild counts). */
export function isCompanionAlive(record: CompanionRecord): boolean {
  if (validPid(record) && leaderAlive(record)) return true
  return companionPids(record).all.length > 0
}

/**
 * The pid that runs the companion now: its leader while that lives (after `exec` too), else the
 * oldest process left of its group or tag (`sh -c 'server &'`); undefined when nothing is left.
 */
export function livePidOf(record: CompanionRecord): number | undefined {
  if (!validPid(record)) return undefined
  if (leaderAlive(record)) return record.pid
  return companionPids(record).all.sort((a, b) => (startTimeOf(a) ?? 0) - (startTimeOf(b) ?? 0) || a - b)[0]
}

/** SIGTERM, then SIGKILL when anything of the companion (its group, its tagged processes) has not gone within `graceMs`. */
export async function stopCompanion(record: CompanionRecord, graceMs = 3_000): Promise<void> {
  // Once to the group, once to each process outside it: some programs take a second SIGTERM as "hurry".
  const kill = (sig: NodeJS.Signals) => {
    const { all, group } = companionPids(record)
    const members = new Set(validPid(record) && ownGroup(record) && signal(-record.pid, sig) ? group : [])
    for (const pid of all) if (!members.has(pid)) signal(pid, sig)
  }
  const gone = () => companionPids(record).all.length === 0
  if (gone()) return
  kill('SIGTERM')
  if (await waitUntil(gone, graceMs, 25)) return
  kill('SIGKILL')
  await waitUntil(gone, 2_000, 25)
}

export async function stopCompanions(
  runId: string,
  which: (record: CompanionRecord) => boolean = () => true,
): Promise<void> {
  await Promise.all(
    listCompanions(runId)
      .filter(which)
      .map((record) => stopCompanion(record)),
  )
}
