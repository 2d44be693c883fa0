import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type { ServerInfo } from './server-info.js'

/** How long a dead server's log copy is kept for a look: a week. */
export const DIED_LOG_KEEP_MS = 7 * 24 * 60 * 60 * 1000
const FOLDER = /^pgrig-[a-z0-9]+-[A-Za-z0-9]{6}$/
const COPY = /-died\.log$/

/**
 * The server's log is removed with its run; a copy in a new private folder of the temp folder
 * outlives the run (a fresh folder: nothing another local user planted there is followed).
 */
export function keepDiedLog(info: ServerInfo, runId: string | undefined): string | null {
  if (!info.logFile) return null
  try {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pgrig-${runId ?? 'run'}-`))
    const copy = path.join(dir, `${info.name}-died.log`)
    fs.copyFileSync(info.logFile, copy, fs.constants.COPYFILE_EXCL)
    fs.chmodSync(copy, 0o600)
    return copy
  } catch {
    return fs.existsSync(info.logFile) ? info.logFile : null
  }
}

/**
 * Removes the log copies of servers that died more than `keepMs` ago: folders of the temp folder
 * named as `keepDiedLog` names them, this user's own, holding nothing but `*-died.log` files.
 */
export function pruneDiedLogs(keepMs = DIED_LOG_KEEP_MS, tmp = os.tmpdir(), now = Date.now()): void {
  const uid = process.getuid?.()
  let names: string[]
  try {
    names = fs.readdirSync(tmp).filter((name) => FOLDER.test(name))
  } catch {
    return
  }
  for (const name of names) {
    const dir = path.join(tmp, name)
    try {
      const stats = fs.lstatSync(dir)
      if (!stats.isDirectory() || (uid !== undefined && stats.uid !== uid)) continue
      if (now - stats.mtimeMs <= keepMs) continue
      const entries = fs.readdirSync(dir, { withFileTypes: true })
      if (entries.length === 0 || !entries.every((e) => e.isFile() && COPY.test(e.name))) continue
      for (const entry of entries) fs.rmSync(path.join(dir, entry.name))
      fs.rmdirSync(dir)
    } catch {
      // gone meanwhile, or not ours to remove
    }
  }
}
