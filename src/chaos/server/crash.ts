import fs from 'node:fs'
import type { StartedServer } from '../../servers/start-server.js'
import { PgrigError } from '../../errors.js'
import { markDestructive } from '../destructive.js'

export interface RestartReport {
  /** Postmaster pid before and after. */
  previousPid: number
  pid: number
  /** From the signal until the server answered again. */
  downtimeMs: number
  /** Server log lines written by the stop and the start. */
  log: string[]
}

export interface CrashReport extends RestartReport {
  /** The log lines that prove crash recovery ran (and, when WAL had to be replayed, how far). */
  recoveryLog: string[]
  /** True when the start replayed WAL ("redo done at …"), false when there was nothing to redo. */
  replayedWal: boolean
}

type Restartable = Pick<StartedServer, 'crash' | 'restart' | 'pid' | 'logFile' | 'name'>

function logSize(file: string): number {
  try {
    return fs.statSync(file).size
  } catch {
    return 0
  }
}

function logSince(file: string, offset: number): string[] {
  const text = fs.readFileSync(file).subarray(offset).toString('utf8')
  return text.split('\n').filter((line) => line.trim() !== '')
}

const RECOVERY_LINES = [
  /not properly shut down; automatic recovery in progress/,
  /redo starts at|redo done at|redo is not required/,
  /database system is ready to accept connections/,
]

/**
 * SIGKILLs the postmaster and all its backends at once (a power cut, as far as PostgreSQL can tell)
 * and starts it again on the same data, which forces crash recovery; returns once it accepts
 * connections, with the log lines that prove recovery ran. Throws E_RECOVERY_NOT_SEEN if the log
 * does not show it.
 *
 * pgrig servers run with synchronous_commit on (PostgreSQL's default), so every acknowledged commit
 * survives (fsync stays off: the kernel keeps written WAL across a process crash); a server started
 * with `settings: { synchronous_commit: false }` may lose those of the last ~200 ms
 * (wal_writer_delay), as PostgreSQL documents. Open connections see their socket closed.
 */
export const crashServer = markDestructive(async function crashServer(
  server: Restartable,
): Promise<CrashReport> {
  const previousPid = server.pid
  const offset = logSize(server.logFile)
  const started = performance.now()
  await server.crash()
  const downtimeMs = performance.now() - started
  const log = logSince(server.logFile, offset)
  const recoveryLog = log.filter((line) => RECOVERY_LINES.some((pattern) => pattern.test(line)))
  if (!RECOVERY_LINES[0]!.test(recoveryLog.join('\n'))) {
    throw new PgrigError(
      'E_RECOVERY_NOT_SEEN',
      `server ${server.name} came back after SIGKILL but its log does not show crash recovery; read ${server.logFile}`,
    )
  }
  return {
    previousPid,
    pid: server.pid,
    downtimeMs,
    log,
    recoveryLog,
    replayedWal: log.some((line) => /redo done at/.test(line)),
  }
})

/**
 * A clean (fast) shutdown and start on the same port and data: open sessions end with 57P01
 * (admin_shutdown) and new ones work once this returns.
 */
export const restartServer = markDestructive(async function restartServer(
  server: Restartable,
): Promise<RestartReport> {
  const previousPid = server.pid
  const offset = logSize(server.logFile)
  const started = performance.now()
  await server.restart()
  return {
    previousPid,
    pid: server.pid,
    downtimeMs: performance.now() - started,
    log: logSince(server.logFile, offset),
  }
})
