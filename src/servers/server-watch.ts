import type { ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PgrigError } from '../errors.js'
import { logEnding } from './postmaster.js'
import { isAlive } from './process-alive.js'
import { runDirOf } from './run-dir.js'
import type { ServerInfo } from './server-info.js'

/** Tells whether the server a test run depends on is still there, and if not, says so in one line. */
export interface ServerWatch {
  /** The E_SERVER_DIED error once the postmaster is gone (checked on the spot), else undefined. */
  died(): PgrigError | undefined
  stop(): void
}

const LOG_LINES = 3
const LINE_CHARS = 200
/** How long a watch that did not start the server waits for its starter to say how it ended. */
const EXIT_NOTE_WAIT_MS = 300

type Exit = { code: number | null; signal: NodeJS.Signals | null }

/** Where the process that started a server notes how it ended, for watches in other processes. */
const exitNoteOf = (runId: string, name: string) => path.join(runDirOf(runId), `${name}.exit.json`)

/**
 * Watches a server pgrig runs (external servers have no pid to watch). With `child`, the
 * postmaster this process started, the exit code or signal is known; for a server another process
 * started (`pgrig run`, a reused one), the note that process writes says it (waited for briefly),
 * else only that its pid is gone.
 */
export function watchServer(info: ServerInfo, child?: ChildProcess, runId?: string): ServerWatch {
  const pid = info.pid
  if (pid === null) return { died: () => undefined, stop: () => {} }
  let exit: Exit | undefined
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
    exit ??= child ? zombieStatus(pid) : runId ? awaitExitNote(runId, info.name) : undefined
    error = diedError(info, exit, keepLog(info, runId), TEST_RUN)
    return error
  }
  return {
    died,
    stop: () => {
      child?.off('exit', onExit)
    },
  }
}

/**
 * For the process that started a server (`pgrig run`): says in one line when the postmaster dies
 * before `stop()` of the returned handle, and notes how it ended for the test processes watching it.
 */
export function reportDeath(
  info: ServerInfo,
  child: ChildProcess | undefined,
  runId: string,
  report: (error: PgrigError) => void,
): { stop(): void } {
  const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
    try {
      // 'wx': a note already there (or a link put there) is left alone
      fs.writeFileSync(exitNoteOf(runId, info.name), JSON.stringify({ code, signal }), {
        flag: 'wx',
        mode: 0o600,
      })
    } catch {
      // the run's folder is gone: nobody is left to read the note
    }
    report(diedError(info, { code, signal }, keepLog(info, runId), COMMAND))
  }
  child?.once('exit', onExit)
  return { stop: () => child?.off('exit', onExit) }
}

/** The note the server's starter writes when it sees the exit, which may come a moment after the pid is gone. */
function awaitExitNote(runId: string, name: string): Exit | undefined {
  const file = exitNoteOf(runId, name)
  const pause = new Int32Array(new SharedArrayBuffer(4))
  for (let waited = 0; ; waited += 20) {
    try {
      return JSON.parse(fs.readFileSync(file, 'utf8')) as Exit
    } catch {
      if (waited >= EXIT_NOTE_WAIT_MS) return undefined
      // once per dead server, on the way to failing the run: a short synchronous wait is fine
      Atomics.wait(pause, 0, 0, 20)
    }
  }
}

/** The wait status of an unreaped child, from /proc/<pid>/stat (field 52, Linux ≥ 3.5). */
function zombieStatus(pid: number): Exit | undefined {
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

/**
 * The server's log is removed with its run; a copy in a new private folder of the temp folder
 * outlives the run (a fresh folder: nothing another local user planted there is followed).
 */
function keepLog(info: ServerInfo, runId: string | undefined): string | null {
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

/** What was running when the server died, and what that means for it. */
interface During {
  what: string
  so: string
}
const TEST_RUN: During = { what: 'the test run', so: 'the remaining tests cannot reach it' }
const COMMAND: During = { what: 'the command', so: 'nothing the command runs can reach it any more' }

function diedError(
  info: ServerInfo,
  exit: Exit | undefined,
  logFile: string | null,
  during: During,
): PgrigError {
  const how = exit?.signal
    ? `killed by ${exit.signal}`
    : exit?.code !== undefined && exit.code !== null
      ? `exit code ${exit.code}`
      : 'its process is gone'
  const log = logFile ? logEnding(logFile, LOG_LINES, LINE_CHARS) : ''
  return new PgrigError(
    'E_SERVER_DIED',
    `PostgreSQL server ${info.name} (pid ${info.pid}, port ${info.port}) died during ${during.what} (${how}); ${during.so}${log}`,
  )
}
