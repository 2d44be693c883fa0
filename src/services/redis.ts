import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import {
  forgetCompanion,
  recordCompanion,
  stopCompanion,
  type CompanionRecord,
} from '../servers/companions.js'
import { PROCESS_TAG_ENV, processTag, startTimeOf } from '../servers/process-tree.js'
import { freePort } from '../servers/ports.js'
import { logTail } from '../servers/postmaster.js'
import { joinedRun, type Run } from '../servers/run.js'
import { PgrigError } from '../errors.js'
import { waitFor, type ProbeResult } from './ready.js'
import { findRedisServer } from './redis-binary.js'

export interface StartRedisOptions {
  /** Logical databases (`--databases`): one per worker index, so parallel workers never share keys. Default 16. */
  databases?: number
  /** Loopback only by default: a test Redis has no password. */
  host?: string
  /** 0 (default) picks a free port. */
  port?: number
  /** Path of `redis-server` / `valkey-server`; by default found on PATH or in the usual folders. */
  binary?: string
  /** How long to wait for the first PING to be answered. Default 10 000 ms. */
  startupTimeout?: number
  /** Name in the run (default `redis`, then `redis-2`, …). */
  name?: string
  /** The run that owns the server; by default the process's own run, whose reaper stops it when the process dies. */
  run?: Run
}

/** Loaded when a Redis server is started: every `import 'pgrig'` would pay for it otherwise. */
const redisClient = () => import('@redis/client')

async function connectAdmin(url: string) {
  const { createClient } = await redisClient()
  const client = createClient({ url, socket: { reconnectStrategy: false } })
  client.on('error', () => {})
  await client.connect()
  return client
}

type AdminClient = Awaited<ReturnType<typeof connectAdmin>>

/** A Redis server pgrig started, with persistence off; stop it with `stop()` or `await using`. */
export class StartedRedis implements AsyncDisposable {
  private stopping: Promise<void> | undefined
  private readonly admins = new Map<number, Promise<AdminClient>>()

  /** @internal */
  constructor(
    readonly host: string,
    readonly port: number,
    readonly databases: number,
    private readonly child: ChildProcess,
    private readonly record: CompanionRecord,
    private readonly run: Run,
    private readonly dir: string,
    readonly logFile: string,
  ) {}

  get pid(): number {
    return this.record.pid
  }

  get name(): string {
    return this.record.name
  }

  /** The URL of logical database 0. */
  get url(): string {
    return this.urlFor(0)
  }

  /** The URL of one logical database: what a worker with that index should connect to. */
  urlFor(index: number): string {
    this.checkIndex(index)
    const host = this.host.includes(':') ? `[${this.host}]` : this.host
    return `redis://${host}:${this.port}/${index}`
  }

  /** Removes every key of one logical database (what runs between two tests of a worker). */
  async flush(index: number): Promise<void> {
    this.checkIndex(index)
    if (this.stopping) throw this.stoppedError('flush')
    // One connection per index: a shared one would need SELECT, and two flushes in flight would race on it.
    let admin = this.admins.get(index)
    if (admin && !(await admin.catch(() => undefined))?.isReady) admin = undefined
    if (!admin) {
      admin = connectAdmin(this.urlFor(index))
      this.admins.set(index, admin)
      admin.catch(() => this.admins.delete(index))
    }
    await (await admin).flushDb()
  }

  /** Stops the server and removes its folder. Calling it again does nothing. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const admins = [...this.admins.values()]
      this.admins.clear()
      await Promise.all(admins.map((a) => a.then((c) => c.destroy()).catch(() => {})))
      await stopCompanion(this.record)
      this.child.removeAllListeners()
      forgetCompanion(this.run.runId, this.record.name)
      fs.rmSync(this.dir, { recursive: true, force: true })
      this.run.releaseName(this.record.name)
      this.run.closeIfEmpty()
    })()
    return this.stopping
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop()
  }

  private checkIndex(index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.databases) {
      throw new PgrigError(
        'E_USAGE',
        `redis database index ${index} is out of range: this server has ${this.databases} databases (0–${this.databases - 1}); start it with a larger databases option`,
      )
    }
  }

  private stoppedError(what: string): PgrigError {
    return new PgrigError(
      'E_NOT_RUNNING',
      `cannot ${what} redis ${this.name}: it was stopped; start a new one`,
    )
  }
}

/** Starts a throwaway Redis (or Valkey) server and returns once it answers PING. */
export async function startRedis(options: StartRedisOptions = {}): Promise<StartedRedis> {
  const databases = options.databases ?? 16
  if (!Number.isInteger(databases) || databases < 1) {
    throw new PgrigError('E_USAGE', `redis databases must be a whole number ≥ 1, got ${databases}`)
  }
  const binary = findRedisServer(options.binary)
  const host = options.host ?? '127.0.0.1'
  const timeoutMs = options.startupTimeout ?? 10_000
  const run = await joinedRun({ run: options.run })
  const name = run.claimName(options.name ?? 'redis', options.name !== undefined)
  if (!name) {
    throw new PgrigError(
      'E_NAME_TAKEN',
      `a server named ${options.name} is already running in this run; choose another name`,
    )
  }
  const dir = path.join(run.dir, name)
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  const logFile = path.join(dir, 'redis.log')
  try {
    for (let attempt = 1; ; attempt++) {
      const port = options.port || (await freePortOn(host))
      const tag = processTag(run.runId, name)
      const child = spawnRedis(binary, { host, port, databases, dir, logFile, tag })
      const record: CompanionRecord = {
        name,
        pid: child.pid ?? -1,
        command: path.basename(binary),
        group: true,
        tag,
        ...(child.pid ? { startTime: startTimeOf(child.pid) } : {}),
      }
      // Recorded before readiness, so the reaper stops a server that hangs in startup too.
      if (child.pid) recordCompanion(run.runId, record)
      try {
        await waitForPing({
          child,
          host,
          port,
          logFile,
          timeoutMs,
          label: `${path.basename(binary)} ${name}`,
        })
      } catch (error) {
        await stopCompanion(record, 500)
        forgetCompanion(run.runId, name)
        // A free port can be taken between our probe and the server's bind; try another one.
        const raced = !options.port && attempt < 4 && /Address already in use/i.test(logTail(logFile, 5))
        if (raced) continue
        throw error
      }
      child.unref()
      return new StartedRedis(host, port, databases, child, record, run, dir, logFile)
    }
  } catch (error) {
    fs.rmSync(dir, { recursive: true, force: true })
    run.releaseName(name)
    if (!options.run) run.closeIfEmpty()
    throw error
  }
}

async function freePortOn(host: string): Promise<number> {
  try {
    return await freePort(host)
  } catch (error) {
    throw new PgrigError(
      'E_USAGE',
      `redis host ${host} cannot be listened on here (${(error as NodeJS.ErrnoException).code}); use a loopback address such as 127.0.0.1`,
      { cause: error },
    )
  }
}

function spawnRedis(
  binary: string,
  o: { host: string; port: number; databases: number; dir: string; logFile: string; tag: string },
): ChildProcess {
  const args = [
    '--port',
    String(o.port),
    '--bind',
    o.host,
    // Throwaway data: no RDB snapshots, no AOF, nothing written to disk.
    '--save',
    '',
    '--appendonly',
    'no',
    '--databases',
    String(o.databases),
    '--dir',
    o.dir,
    '--logfile',
    o.logFile,
    '--daemonize',
    'no',
  ]
  const child = spawn(binary, args, {
    // Own process group: a Ctrl-C meant for the test runner must not stop Redis before the tests do.
    detached: true,
    stdio: 'ignore',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', [PROCESS_TAG_ENV]: o.tag },
  })
  child.on('error', () => {
    // surfaced by waitForPing through the exit
  })
  return child
}

async function waitForPing(o: {
  child: ChildProcess
  host: string
  port: number
  logFile: string
  timeoutMs: number
  label: string
}): Promise<void> {
  const outcome = await waitFor(o.child, { waitsFor: 'PING', probe: () => ping(o.host, o.port) }, o.timeoutMs)
  if (outcome.kind === 'exited') {
    const how = outcome.signal ? `signal ${outcome.signal}` : `code ${outcome.code}`
    throw new PgrigError(
      'E_SERVER_EXITED',
      `${o.label} exited during startup (${how}). Last log lines:\n${logTail(o.logFile)}`,
    )
  }
  if (outcome.kind === 'timeout') {
    throw new PgrigError(
      'E_STARTUP_TIMEOUT',
      `${o.label} did not answer PING on ${o.host}:${o.port} after ${o.timeoutMs} ms; raise startupTimeout if the machine is busy. Last log lines:\n${logTail(o.logFile)}`,
    )
  }
}

/** One PING: not listening yet, or still loading, is a no. */
async function ping(host: string, port: number): Promise<ProbeResult> {
  const { createClient } = await redisClient()
  const client = createClient({ socket: { host, port, reconnectStrategy: false, connectTimeout: 1_000 } })
  client.on('error', () => {})
  try {
    await client.connect()
    return { ready: (await client.ping()) === 'PONG' }
  } catch {
    return { ready: false }
  } finally {
    client.destroy()
  }
}
