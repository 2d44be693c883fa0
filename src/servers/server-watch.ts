import type { ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PgrigError } from '../errors.js'
import { keepDiedLog } from './died-logs.js'
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
/**
 * A watch waits for the starter's note only while the starter lives, which takes a few ms after
 * the pid is gone; this bound only keeps a starter that hangs from hanging the watch with it.
 */
const EXIT_NOTE_WAIT_MS = 10_000

type Exit = { code: number | null; signal: NodeJS.Signals | null }

/**
 * What the process that started a server notes for watches in other processes: first that it will
 * note the exit (`starter`, its pid), then how the server ended and where it copied the log.
 */
type ExitNote = { starter: number } | (Exit & { log: string | null })

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
    const note = child || !runId ? undefined : awaitExitNote(runId, info.name)
    exit ??= child ? zombieStatus(pid) : note
    // The starter's copy of the log, when it made one: one copy per death.
    const log = note?.log && fs.existsSync(note.log) ? note.log : keepDiedLog(info, runId)
    error = diedError(info, exit, log, TEST_RUN)
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
  const file = exitNoteOf(runId, info.name)
  if (child) writeExitNote(file, { starter: process.pid })
  const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
    const log = keepDiedLog(info, runId)
    writeExitNote(file, { code, signal, log })
    report(diedError(info, { code, signal }, log, COMMAND))
  }
  child?.once('exit', onExit)
  return {
    stop: () => {
      child?.off('exit', onExit)
      // No note is coming any more: a later watch must not wait for one.
      fs.rmSync(file, { force: true })
    },
  }
}

/** Whole or not at all (a rename), so a watch never reads half a note; a link put there is replaced, not followed. */
function writeExitNote(file: string, note: ExitNote): void {
  const draft = `${file}.${process.pid}`
  try {
    fs.writeFileSync(draft, JSON.stringify(note), { flag: 'wx', mode: 0o600 })
    fs.renameSync(draft, file)
  } catch {
    // the run's folder is gone: nobody is left to read the note
    fs.rmSync(draft, { force: true })
  }
}

/**
 * How the server ended, from its starter's note. The starter notes it as soon as it reaps the
 * postmaster, a moment after the pid is gone, so a watch waits for it as long as the starter lives
 * and said it would note it; with no such note (a server `pgrig up` left running), it does not wait.
 */
function awaitExitNote(runId: string, name: string): (Exit & { log: string | null }) | undefined {
  const file = exitNoteOf(runId, name)
  const pause = new Int32Array(new SharedArrayBuffer(4))
  const deadline = Date.now() + EXIT_NOTE_WAIT_MS
  for (;;) {
    let note: ExitNote
    try {
      note = JSON.parse(fs.readFileSync(file, 'utf8')) as ExitNote
    } catch {
      return undefined
    }
    if (!('starter' in note)) return note
    if (!isAlive(note.starter) || Date.now() > deadline) return undefined
    // once per dead server, on the way to failing the run: a short synchronous wait is fine
    Atomics.wait(pause, 0, 0, 5)
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
