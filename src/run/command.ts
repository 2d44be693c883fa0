import { spawn } from 'node:child_process'
import os from 'node:os'
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
}

/** What a shell says a command exited with: its code, or 128 + the number of the signal that ended it. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  return code ?? 128 + (signal ? (os.constants.signals[signal] ?? 1) : 1)
}

/**
 * Runs `argv` to its end and resolves its exit code. Ctrl-C, SIGTERM and SIGHUP are passed on to
 * it while it runs (the terminal sends Ctrl-C to it too; pgrig only outlives it to clean up). A
 * command that is not found rejects with `E_COMMAND_NOT_FOUND` (exit code 127, as in a shell).
 */
export function runCommand(argv: string[], options: CommandOptions): Promise<number> {
  const [file, ...args] = argv as [string, ...string[]]
  const { prefixed } = options
  const child = spawn(file, args, {
    stdio: prefixed ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    env: options.env,
  })
  const piped = prefixed
    ? Promise.all([
        pipePrefixed(child.stdout!, prefixed.stdout, prefixed.prefix),
        pipePrefixed(child.stderr!, prefixed.stderr, prefixed.prefix),
      ])
    : Promise.resolve()
  const handlers = FORWARDED_SIGNALS.map((sig) => [sig, () => child.kill(sig)] as const)
  for (const [sig, handler] of handlers) process.on(sig, handler)
  const forget = () => {
    for (const [sig, handler] of handlers) process.off(sig, handler)
  }
  return new Promise<number>((resolve, reject) => {
    child.on('error', (error: NodeJS.ErrnoException) => {
      forget()
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
    child.on('exit', (code, signal) => {
      forget()
      // The last lines are written before the run reports its end.
      void piped.then(() => resolve(exitCodeOf(code, signal)))
    })
  })
}
