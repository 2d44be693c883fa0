import type { ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import type { ReadyCheck } from '../config/schema.js'

export interface ProbeResult {
  ready: boolean
  /** What the last try saw, for the timeout message (`status 503`, `ECONNREFUSED`). */
  seen?: string
}

/** One readiness strategy: what it waits for (for messages) and one try. */
export interface Readiness {
  waitsFor: string
  probe(): Promise<ProbeResult>
}

const HOST = '127.0.0.1'

function tcpTarget(value: string | number): { host: string; port: number } {
  const text = String(value)
  const at = text.lastIndexOf(':')
  const host = at > 0 ? text.slice(0, at).replace(/^\[(.*)\]$/, '$1') : HOST
  return { host, port: Number(at > 0 ? text.slice(at + 1) : text) }
}

function connects(host: string, port: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port })
    socket.setTimeout(1_000)
    const done = (result: ProbeResult) => {
      socket.destroy()
      resolve(result)
    }
    socket.once('connect', () => done({ ready: true }))
    socket.once('timeout', () => done({ ready: false, seen: 'no answer within 1 s' }))
    socket.once('error', (error: NodeJS.ErrnoException) =>
      done({ ready: false, seen: error.code ?? error.message }),
    )
  })
}

/** Reads the log from the start each time: a ready line may be written before the first look. */
function logMatches(logFile: string, pattern: RegExp | string): boolean {
  let text: string
  try {
    text = fs.readFileSync(logFile, 'utf8')
  } catch {
    return false
  }
  if (typeof pattern === 'string') return text.includes(pattern)
  // A global or sticky pattern keeps a lastIndex between tries; a copy without them does not.
  return new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, '')).test(text)
}

/** The strategy for a check whose placeholders are filled in. */
export function readinessOf(check: ReadyCheck, logFile: string): Readiness {
  if ('http' in check) {
    const url = check.http
    const status = check.status
    return {
      waitsFor: `an HTTP ${status ?? '2xx'} answer from ${url}`,
      probe: async () => {
        try {
          const answer = await fetch(url, { signal: AbortSignal.timeout(1_000), redirect: 'manual' })
          await answer.body?.cancel()
          const ok =
            status === undefined ? answer.status >= 200 && answer.status < 300 : answer.status === status
          return { ready: ok, seen: `status ${answer.status}` }
        } catch (error) {
          const cause = (error as { cause?: { code?: string } }).cause
          return { ready: false, seen: cause?.code ?? (error as Error).name }
        }
      },
    }
  }
  if ('tcp' in check) {
    const { host, port } = tcpTarget(check.tcp)
    return { waitsFor: `a TCP connection to ${host}:${port}`, probe: () => connects(host, port) }
  }
  const pattern = check.log
  return {
    waitsFor: `a log line matching ${typeof pattern === 'string' ? JSON.stringify(pattern) : String(pattern)} in ${logFile}`,
    probe: async () => ({ ready: logMatches(logFile, pattern) }),
  }
}

/** How a process ended, as messages say it. */
export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exit code ${code}`
}

export type WaitOutcome =
  | { kind: 'ready' }
  | { kind: 'exited'; code: number | null; signal: NodeJS.Signals | null }
  | { kind: 'timeout'; seen: string | undefined }

/**
 * Tries `readiness` until it says ready, the process exits, or `timeoutMs` passes. Without a
 * readiness (a `once` job), waits for the exit.
 */
export async function waitFor(
  child: ChildProcess,
  readiness: Readiness | undefined,
  timeoutMs: number,
): Promise<WaitOutcome> {
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      exit = { code: child.exitCode, signal: child.signalCode }
      resolve()
    }
    child.once('exit', (code, signal) => {
      exit = { code, signal }
      resolve()
    })
  })
  const started = Date.now()
  let seen: string | undefined
  for (;;) {
    if (exit) return { kind: 'exited', ...exit }
    if (readiness) {
      const result = await readiness.probe()
      if (result.ready) return { kind: 'ready' }
      seen = result.seen ?? seen
    }
    const waited = Date.now() - started
    if (waited > timeoutMs) return { kind: 'timeout', seen }
    const pause = readiness ? (waited < 200 ? 5 : 25) : timeoutMs - waited + 1
    let timer: NodeJS.Timeout | undefined
    await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, pause)))])
    clearTimeout(timer)
  }
}
