import type { ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PgrigError } from '../errors.js'
import { logEnding } from './postmaster.js'
import { isAlive } from './process-alive.js'
import type { ServerInfo } from './server-info.js'

/** Tells whether the server a test run depends on is still there, and if not, says so in one line. */
export interface ServerWatch {
  /** The E_SERVER_DIED error once the postmaster is gone (checked on the spot), else undefined. */
  died(): PgrigError | undefined
  stop(): void
}

const LOG_LINES = 3
const LINE_CHARS = 200

/**
 * Watches a server pgrig runs (external servers have no pid to watch). With `child`, the
 * postmaster this process started, the exit code or signal is known; for a server another process
 * started (`pgrig run`, a reused one), only that its pid is gone.
 */
export function watchServer(info: ServerInfo, child?: ChildProcess, runId?: string): ServerWatch {
  const pid = info.pid
  if (pid === null) return { died: () => undefined, stop: () => {} }
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined
  let error: PgrigError | undefined
  const onExit = (code: number | null, signal: NodeJS.Signals | null) => (exit = { code, signal })
  child?.once('exit', onExit)
  if (child && (child.exitCode !== null || child.signalCode !== null)) {
    exit = { code: child.exitCode, signal: child.signalCode }
  }
  const died = (): PgrigError | undefined => {
    if (error) return error
    if (!exit && isAlive(pid)) return undefined
    // Dead but not yet reaped (the exit event comes a moment later): the zombie still holds its status.
    exit ??= child ? zombieStatus(pid) : undefined
    error = diedError(info, exit, keepLog(info, runId))
    return error
  }
  return {
    died,
    stop: () => {
      child?.off('exit', onExit)
    },
  }
}

/** The wait status of an unreaped child, from /proc/<pid>/stat (field 52, Linux ≥ 3.5). */
function zombieStatus(pid: number): { code: number | null; signal: NodeJS.Signals | null } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // fields[0] is field 3 (state); field 52 is the exit code
    const status = Number(fields[49])
    if (fields[0] !== 'Z' || !Number.isInteger(status)) return undefined
    const signo = status & 0x7f
    if (signo === 0) return { code: (status >> 8) & 0xff, signal: null }
    const name = Object.entries(os.constants.signals).find(([, n]) => n === signo)?.[0]
    return { code: null, signal: (name ?? `signal ${signo}`) as NodeJS.Signals }
  } catch {
    return undefined
  }
}

/** The server's log is removed with its run; a copy beside it in the temp folder outlives the run. */
function keepLog(info: ServerInfo, runId: string | undefined): string | null {
  if (!info.logFile) return null
  const copy = path.join(os.tmpdir(), `pgrig-${runId ?? 'run'}-${info.name}-died.log`)
  try {
    fs.copyFileSync(info.logFile, copy)
    fs.chmodSync(copy, 0o600)
    return copy
  } catch {
    return fs.existsSync(info.logFile) ? info.logFile : null
  }
}

function diedError(
  info: ServerInfo,
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined,
  logFile: string | null,
): PgrigError {
  const how = exit?.signal
    ? `killed by ${exit.signal}`
    : exit?.code !== undefined && exit.code !== null
      ? `exit code ${exit.code}`
      : 'its process is gone'
  const log = logFile ? logEnding(logFile, LOG_LINES, LINE_CHARS) : ''
  return new PgrigError(
    'E_SERVER_DIED',
    `PostgreSQL server ${info.name} (pid ${info.pid}, port ${info.port}) died during the test run (${how}); the remaining tests cannot reach it${log}`,
  )
}
