import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {
  forgetCompanion,
  recordCompanion,
  stopCompanion,
  type CompanionRecord,
  type ServiceDetails,
} from '../servers/companions.js'
import { freePort } from '../servers/ports.js'
import { PROCESS_TAG_ENV, processTag, startTimeOf } from '../servers/process-tree.js'
import { logEnding } from '../servers/postmaster.js'
import { joinedRun, type Run } from '../servers/run.js'
import { resolveServices, type ServiceSpec } from '../config/services.js'
import type { ReadyCheck, ServiceOptions } from '../config/schema.js'
import { PgrigError } from '../errors.js'
import { findProgram, pathDirs } from './program.js'
import { describeExit, readinessOf, waitFor, type Readiness, type WaitOutcome } from './ready.js'

/** Services listen on loopback, as pgrig's servers do. */
export const SERVICE_HOST = '127.0.0.1'

export interface ServiceInfo extends ServiceDetails {
  name: string
  pid: number
}

/** What a service started by `startServices` (or `startService`) needs besides its own options. */
export interface ServiceContext {
  /** The run that owns it; by default the process's own run, whose reaper stops it when the process dies. */
  run?: Run
  /** Variables the process sees on top of this process's environment (the servers' `DATABASE_URL`, …). */
  processEnv?: Record<string, string>
}

export interface StartServiceOptions extends ServiceOptions, ServiceContext {
  /** Its name in the run (folder, `pgrig status`, messages). Default: the program's name. */
  name?: string
  /** Where the command runs. Default: the current folder. */
  cwd?: string
}

/** A service pgrig started and found ready (a `once` job: that ran to exit code 0); `stop()` or `await using`. */
export class StartedService implements AsyncDisposable {
  private stopping: Promise<void> | undefined

  /** @internal */
  constructor(
    private readonly record: CompanionRecord & { service: ServiceDetails },
    private readonly child: ChildProcess,
    private readonly run: Run,
    private readonly root: string,
  ) {}

  get name(): string {
    return this.record.name
  }
  get pid(): number {
    return this.record.pid
  }
  /** The free port it was given (`{port}`). */
  get port(): number {
    return this.record.service.port
  }
  /** Its own folder (`{dir}`), removed when it stops. */
  get dir(): string {
    return this.record.service.dir
  }
  get logFile(): string {
    return this.record.service.logFile
  }
  get once(): boolean {
    return this.record.service.once
  }
  /** Its `env`, placeholders filled in: what `pgrig run` exports to the command. */
  get env(): Record<string, string> {
    return { ...this.record.service.env }
  }
  get info(): ServiceInfo {
    return { name: this.name, pid: this.pid, ...structuredClone(this.record.service) }
  }

  /** Stops its whole process group (SIGTERM, then SIGKILL) and removes its folder. Calling it again does nothing. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await stopCompanion(this.record)
      this.child.removeAllListeners()
      forgetCompanion(this.run.runId, this.name)
      fs.rmSync(this.root, { recursive: true, force: true, maxRetries: 5 })
      this.run.releaseName(this.name)
      this.run.closeIfEmpty()
    })()
    return this.stopping
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop()
  }
}

/** Starts one service from code: `await using minio = await startService({ command: ['minio', …], ready: … })`. */
export async function startService(options: StartServiceOptions): Promise<StartedService> {
  const { name, cwd, run, processEnv, ...serviceOptions } = options
  const program = Array.isArray(serviceOptions.command) ? serviceOptions.command[0] : undefined
  const chosen = name ?? path.basename(program ?? 'service').replace(/[^A-Za-z0-9_-]/g, '-')
  const [spec] = resolveServices({ [chosen]: serviceOptions }, cwd, 'startService')
  checkPrograms([spec!], processEnv, 'startService')
  return launchService(spec!, { run, processEnv }, 'startService')
}

/** Every service's program is found before anything starts: one line naming the program and its key. */
export function checkPrograms(
  specs: ServiceSpec[],
  processEnv: Record<string, string> = {},
  source = 'services',
): void {
  const dirs = pathDirs(processEnv.PATH ?? process.env.PATH)
  for (const spec of specs) {
    const program = spec.command[0]!
    if (findProgram(program, spec.cwd, dirs)) continue
    const where = keyOf(source, spec.name, 'command[0]')
    const what = program.includes('/')
      ? `${path.resolve(spec.cwd, program)} does not exist or is not executable`
      : `"${program}" was not found on PATH`
    throw new PgrigError(
      'E_COMMAND_NOT_FOUND',
      `service ${spec.name}: ${what} (${where}); install it, or put its full path in ${where}`,
    )
  }
}

/** Where a user sets `key`: `services.minio.timeout` in a config, `startService({ timeout })` in code. */
function keyOf(source: string, name: string, key: string): string {
  if (source !== 'startService') return `${source}.${name}.${key}`
  return key.startsWith('command') ? 'startService({ command })' : `startService({ ${key} })`
}

/** `{port}`, `{dir}` and `{host}` in a command, check or env value, filled in. */
export function fillPlaceholders(text: string, port: number, dir: string): string {
  return text.replaceAll('{port}', String(port)).replaceAll('{dir}', dir).replaceAll('{host}', SERVICE_HOST)
}

function filledCheck(check: ReadyCheck, fill: (text: string) => string): ReadyCheck {
  if ('http' in check) return { ...check, http: fill(check.http) }
  if ('tcp' in check) return { tcp: fill(String(check.tcp)) }
  return typeof check.log === 'string' ? { log: fill(check.log) } : check
}

/** A free port taken by someone else between our probe and the service's bind: worth another port. */
const PORT_RACE = /address already in use|EADDRINUSE/i

/** @internal Starts one resolved service and waits for it (its `after` services are already up). */
export async function launchService(
  spec: ServiceSpec,
  context: ServiceContext,
  source = 'services',
): Promise<StartedService> {
  const run = await joinedRun({ run: context.run })
  const program = findProgram(
    spec.command[0]!,
    spec.cwd,
    pathDirs(context.processEnv?.PATH ?? process.env.PATH),
  )!
  const name = run.claimName(spec.name, true)
  if (!name) {
    throw new PgrigError(
      'E_NAME_TAKEN',
      `service ${spec.name}: a server or service of that name already runs in this run; rename one of them`,
    )
  }
  const root = path.join(run.dir, 'services', name)
  const dir = path.join(root, 'data')
  const logFile = path.join(root, `${name}.log`)
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
    for (let attempt = 1; ; attempt++) {
      const port = await freePort(SERVICE_HOST)
      const fill = (text: string) => fillPlaceholders(text, port, dir)
      const env = Object.fromEntries(Object.entries(spec.env).map(([key, value]) => [key, fill(value)]))
      const readiness = spec.ready && readinessOf(filledCheck(spec.ready, fill), logFile)
      const tag = processTag(run.runId, name)
      const child = spawnService(program, spec.command.slice(1).map(fill), {
        cwd: spec.cwd,
        env: { ...process.env, ...context.processEnv, ...env, [PROCESS_TAG_ENV]: tag },
        logFile,
      })
      if (!child.pid) {
        throw new PgrigError(
          'E_COMMAND_NOT_FOUND',
          `service ${spec.name}: ${program} could not be started (${keyOf(source, spec.name, 'command[0]')})`,
        )
      }
      const record = {
        name,
        pid: child.pid,
        command: path.basename(program),
        group: true,
        // The pid stays the service's across `exec` (`sh -c 'exec server'`); its start time tells it from a stranger.
        startTime: startTimeOf(child.pid),
        tag,
        service: { port, dir, logFile, env, once: spec.once, ready: describeReady(spec, readiness) },
      }
      // Recorded before readiness, so the reaper stops a service that hangs in startup too.
      recordCompanion(run.runId, record)
      const outcome = await waitFor(child, readiness ?? (spec.once ? undefined : STARTED), spec.timeout)
      if (outcome.kind === 'ready' || (spec.once && outcome.kind === 'exited' && outcome.code === 0)) {
        child.unref()
        return new StartedService(record, child, run, root)
      }
      await stopCompanion(record, 500)
      forgetCompanion(run.runId, name)
      const raced = outcome.kind === 'exited' && !spec.once && attempt < 4 && portRaced(logFile)
      if (!raced) throw failure(spec, outcome, readiness, logFile, source)
    }
  } catch (error) {
    fs.rmSync(root, { recursive: true, force: true, maxRetries: 5 })
    run.releaseName(name)
    if (!context.run) run.closeIfEmpty()
    throw error
  }
}

/** Without a ready check, a service counts as ready once it runs. */
const STARTED: Readiness = { waitsFor: 'its start', probe: async () => ({ ready: true }) }

function describeReady(spec: ServiceSpec, readiness: Readiness | undefined): string {
  if (spec.once) return 'exit code 0'
  return readiness?.waitsFor ?? 'started'
}

function portRaced(logFile: string): boolean {
  try {
    return PORT_RACE.test(fs.readFileSync(logFile, 'utf8'))
  } catch {
    return false
  }
}

function failure(
  spec: ServiceSpec,
  outcome: Exclude<WaitOutcome, { kind: 'ready' }>,
  readiness: Readiness | undefined,
  logFile: string,
  source: string,
): PgrigError {
  const label = `service ${spec.name}${spec.once ? ' (once)' : ''}`
  const timeoutKey = keyOf(source, spec.name, 'timeout')
  if (outcome.kind === 'exited') {
    const how = describeExit(outcome.code, outcome.signal)
    return spec.once
      ? new PgrigError('E_SERVICE_FAILED', `${label} failed with ${how}${logEnding(logFile, 10)}`)
      : new PgrigError(
          'E_SERVICE_EXITED',
          `${label} exited before it was ready (${how})${logEnding(logFile)}`,
        )
  }
  const what = spec.once ? 'did not finish' : `was not ready: it waited for ${readiness?.waitsFor}`
  const seen = outcome.seen ? ` (last try: ${outcome.seen})` : ''
  return new PgrigError(
    'E_STARTUP_TIMEOUT',
    `${label} ${what} within ${spec.timeout} ms${seen}; raise ${timeoutKey} if the machine is busy${logEnding(logFile)}`,
  )
}

function spawnService(
  program: string,
  args: string[],
  o: { cwd: string; env: NodeJS.ProcessEnv; logFile: string },
): ChildProcess {
  const { O_WRONLY, O_CREAT, O_TRUNC, O_NOFOLLOW } = fs.constants
  const log = fs.openSync(o.logFile, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0o600)
  try {
    const child = spawn(program, args, {
      cwd: o.cwd,
      env: o.env,
      stdio: ['ignore', log, log],
      // Its own process group: a Ctrl-C meant for the tests does not reach it, and stop() takes
      // down everything it started (`sh -c '…'` and its children).
      detached: true,
    })
    child.on('error', () => {
      // surfaced through the exit (the program was checked before)
    })
    return child
  } finally {
    fs.closeSync(log)
  }
}
