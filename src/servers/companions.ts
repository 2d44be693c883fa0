import fs from 'node:fs'
import path from 'node:path'
import { isAlive, isGroupAlive, signal, waitUntil } from './process-alive.js'
import { runDirOf } from './run-dir.js'

/**
 * A process other than a postmaster that a run owns (a Redis server, say). Recorded in the run dir
 * so the run's reaper, `pgrig down` and stale-run cleanup stop it the same way they stop servers,
 * without the servers layer knowing what the process is.
 */
export interface CompanionRecord {
  name: string
  pid: number
  /** A word the process's command line must contain: pids get reused, and pgrig must never signal a stranger. */
  command: string
  /**
   * The process leads its own process group, and everything in the group is the companion's
   * (`sh -c '…'` and what it runs): stopped together, and alive while any of it is.
   */
  group?: boolean
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

/** True when `pid` is alive and its command line names `command` (for a group: while any of it lives). */
export function isCompanionAlive(record: CompanionRecord): boolean {
  if (!Number.isInteger(record.pid) || record.pid <= 0) return false
  // A group outlives its leader (`sh -c 'server &'`); its id cannot be handed to a new process meanwhile.
  if (!isAlive(record.pid)) return record.group === true && isGroupAlive(record.pid)
  try {
    return fs.readFileSync(`/proc/${record.pid}/cmdline`, 'utf8').includes(record.command)
  } catch {
    // no /proc (macOS): a live pid is the best evidence there is
    return true
  }
}

/** SIGTERM, then SIGKILL when the process (or its group) has not gone within `graceMs`. */
export async function stopCompanion(record: CompanionRecord, graceMs = 3_000): Promise<void> {
  if (!isCompanionAlive(record)) return
  const target = record.group ? -record.pid : record.pid
  const gone = () => (record.group ? !isGroupAlive(record.pid) : !isAlive(record.pid))
  signal(target, 'SIGTERM')
  if (await waitUntil(gone, graceMs)) return
  signal(target, 'SIGKILL')
  await waitUntil(gone, 2_000)
}

export async function stopCompanions(runId: string): Promise<void> {
  await Promise.all(listCompanions(runId).map((record) => stopCompanion(record)))
}
