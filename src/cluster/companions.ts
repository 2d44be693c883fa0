import fs from 'node:fs'
import path from 'node:path'
import { isAlive, signal, waitUntil } from './process-alive.js'
import { runDirOf } from './run-dir.js'

/**
 * A process other than a postmaster that a run owns (a Redis server, say). Recorded in the run dir
 * so the run's reaper, `pgrig down` and stale-run cleanup stop it the same way they stop servers,
 * without the cluster layer knowing what the process is.
 */
export interface CompanionRecord {
  name: string
  pid: number
  /** A word the process's command line must contain: pids get reused, and pgrig must never signal a stranger. */
  command: string
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

/** True when `pid` is alive and its command line names `command`. */
export function isCompanionAlive(record: CompanionRecord): boolean {
  if (!Number.isInteger(record.pid) || record.pid <= 0 || !isAlive(record.pid)) return false
  try {
    return fs.readFileSync(`/proc/${record.pid}/cmdline`, 'utf8').includes(record.command)
  } catch {
    // no /proc (macOS): a live pid is the best evidence there is
    return true
  }
}

/** SIGTERM, then SIGKILL when the process has not gone within `graceMs`. */
export async function stopCompanion(record: CompanionRecord, graceMs = 3_000): Promise<void> {
  if (!isCompanionAlive(record)) return
  signal(record.pid, 'SIGTERM')
  if (await waitUntil(() => !isAlive(record.pid), graceMs)) return
  signal(record.pid, 'SIGKILL')
  await waitUntil(() => !isAlive(record.pid), 2_000)
}

export async function stopCompanions(runId: string): Promise<void> {
  await Promise.all(listCompanions(runId).map((record) => stopCompanion(record)))
}
