import { spawn } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import {
  forgetCompanion,
  recordCompanion,
  stopCompanion,
  type CompanionRecord,
} from '../servers/companions.js'
import { signal } from '../servers/process-alive.js'
import { PROCESS_TAG_ENV, processTag, startTimeOf } from '../servers/process-tree.js'
import { ownedRun } from '../servers/run.js'
import { PgrigError } from '../errors.js'
import { pipePrefixed } from './prefix-lines.js'

/** The signals a run passes on to its command (and outlives, to clean up after it). */
export const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

export interface CommandOptions {
  env: NodeJS.ProcessEnv
  /**
   * Pipes the command's output, each line led by `prefix` (one version of a matrix run); without
   * it the command shares pgrig's terminal, stdin included.
   */
  prefixed?: { prefix: string; stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream }
  /**
   * The run whose reaper stops the command (its process group and every process that carries its
   * tag) when this process dies first, however it dies. Default: this process's own run.
   */
  runId?: string
}

let commands = 0

/** What a shell says a command exited with: its code, or 128 + the number of the signal that ended it. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  return code ?? 128 + (signal ? (os.constants.signals[signal] ?? 1) : 1)
}

/**
 * Runs `argv` to its end and resolves its exit code. Ctrl-C, SIGTERM and SIGHUP are passed on to
 * it while it runs (the terminal sends Ctrl-C to it too; pgrig only outlives it to clean up). A
 * command that is not found rejects with `E_COMMAND_NOT_FOUND` (exit code 127, as in a shell).
 * The command is recorded in the run as a companion that dies with its owner: if this process is
 * killed, the run's reaper stops it; what it leaves running when it exits is stopped here.
 */
export async function runCommand(argv: string[], options: CommandOptions): Promise<number> {
  const [file, ...args] = argv as [string, ...string[]]
  const { prefixed } = options
  const runId = options.runId ?? (await ownedRun()).runId
  const name = `~command-${process.pid}-${++commands}`
  const tag = processTag(runId, name)
  // Its own process group, unless it shares pgrig's terminal: a group in the background of its
  // terminal is stopped (SIGTTIN) when it reads it, and Node cannot hand it the foreground. There
  // the terminal's Ctrl-C reaches it directly, and its tag finds it and its children.
  const group = prefixed !== undefined || !process.stdin.isTTY
  const record: CompanionRecord = { name, pid: 0, command: path.basename(file), group, tag, withOwner: true }
  // Recorded before it exists: an owner killed while spawning it leaves the reaper its tag to find it by.
  recordCompanion(runId, record)
  const child = spawn(file, args, {
    stdio: prefixed ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    env: { ...options.env, [PROCESS_TAG_ENV]: tag },
    detached: group,
  })
  if (child.pid) {
    Object.assign(record, { pid: child.pid, startTime: startTimeOf(child.pid) })
    recordCompanion(runId, record)
  }
  const piped = prefixed
    ? Promise.all([
        pipePrefixed(child.stdout!, prefixed.stdout, prefixed.prefix),
        pipePrefixed(child.stderr!, prefixed.stderr, prefixed.prefix),
      ])
    : Promise.resolve()
  // Ctrl-C to its whole group, as a terminal would have sent it; SIGTERM and SIGHUP to the command itself.
  const pass = (sig: NodeJS.Signals) =>
    group && child.pid && sig === 'SIGINT' ? signal(-child.pid, sig) : child.kill(sig)
  const handlers = FORWARDED_SIGNALS.map((sig) => [sig, () => pass(sig)] as const)
  for (const [sig, handler] of handlers) process.on(sig, handler)
  const forget = () => {
    for (const [sig, handler] of handlers) process.off(sig, handler)
  }
  return new Promise<number>((resolve, reject) => {
    child.on('error', (error: NodeJS.ErrnoException) => {
      forget()
      forgetCompanion(runId, name)
      reject(
        error.code === 'ENOENT'
          ? new PgrigError(
              'E_COMMAND_NOT_FOUND',
              `command ${file} was not found; check the spelling or PATH`,
              {
                exitCode: 127,
              },
            )
          : error,
      )
    })
    child.on('exit', (code, sig) => {
      forget()
      // What it left running (`cmd &`, a double fork) would hold the servers, and its output pipes, open.
      // The last lines are written before the run reports its end.
      void stopCompanion(record, 1_000)
        .then(() => forgetCompanion(runId, name))
        .then(async () => {
          await piped
        })
        .then(() => resolve(exitCodeOf(code, sig)))
    })
  })
}
