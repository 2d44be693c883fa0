import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { PgrigError } from '../errors.js'
import type { ServerSpec } from '../config/resolve.js'
import { own, type RunAs } from './os-user.js'
import { isAlive, isGroupAlive, livePostmasterPid, signal, waitUntil } from './process-alive.js'
import { renderSettings } from './server-config.js'

export interface SpawnOptions {
  binDir: string
  dataDir: string
  logFile: string
  runAs: RunAs | undefined
  /** Spawned under `keeperCommand()` (defined): see `LaunchTarget.outlivesCaller`. */
  keeper?: string[] | undefined
}

/** Environment for server processes: English messages and nothing of the caller's PG* variables. */
export function serverEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', LANG: 'C', TZ: process.env.TZ ?? 'UTC' }
}

/**
 * Spawns `postgres` itself rather than `pg_ctl start -w`, which polls every 100 ms. It gets its own
 * process group, so a Ctrl-C meant for the caller does not reach it and a crash can take the whole
 * server (postmaster and backends) down at once.
 */
export function spawnPostmaster(options: SpawnOptions): ChildProcess {
  // Private to this user (the server writes through the inherited descriptor), and never through a link.
  const { O_WRONLY, O_APPEND, O_CREAT, O_NOFOLLOW } = fs.constants
  const log = fs.openSync(options.logFile, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW, 0o600)
  const postgres = [path.join(options.binDir, 'postgres'), '-D', options.dataDir]
  const [command, ...args] = [...(options.keeper ?? []), ...postgres]
  try {
    const child = spawn(command!, args, {
      stdio: ['ignore', log, log],
      detached: true,
      env: serverEnv(),
      ...(options.runAs ? { uid: options.runAs.uid, gid: options.runAs.gid } : {}),
    })
    child.on('error', () => {
      // surfaced by waitReady through the exit code and the log
    })
    return child
  } finally {
    fs.closeSync(log)
  }
}

/**
 * `setsid --fork --wait`: the parent a server that outlives this process keeps. The postmaster (the
 * fork, its own session and process group, as without it) is reaped the moment it exits, not when
 * init gets round to it (up to 2 s on this project's CI machine), so a pid `pgrig down` stopped is
 * gone when down returns. Undefined where util-linux's setsid is not installed (macOS): the
 * postmaster is then spawned as it is for a server of this process.
 */
let foundKeeper: string[] | undefined | null = null
export function keeperCommand(): string[] | undefined {
  if (foundKeeper === null) {
    const setsid = ['/usr/bin/setsid', '/bin/setsid'].find((file) => fs.existsSync(file))
    foundKeeper = process.platform === 'linux' && setsid ? [setsid, '--fork', '--wait'] : undefined
  }
  return foundKeeper
}

export function logTail(logFile: string, lines = 8): string {
  try {
    const text = fs.readFileSync(logFile, 'utf8').trimEnd()
    return text.split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log written)'
  }
}

/**
 * The last lines of a log for a one-line message: `; log <file> ends: "…" | "…"` (empty lines
 * dropped, long ones cut), or `; log <file> is empty`.
 */
export function logEnding(logFile: string, lines = 3, chars = 200): string {
  const tail = logTail(logFile, lines)
    .split('\n')
    .map((line) => line.trim().slice(0, chars))
    .filter(Boolean)
  return `; log ${logFile}${tail.length ? ` ends: ${tail.map((line) => JSON.stringify(line)).join(' | ')}` : ' is empty'}`
}

export interface ReadyOptions {
  child: ChildProcess
  socketDir: string
  port: number
  user: string
  logFile: string
  timeoutMs: number
  /** For messages: which server this is. */
  label: string
}

const RETRYABLE = new Set(['ENOENT', 'ECONNREFUSED', '57P03'])

/**
 * Waits until the server accepts a real superuser session on its socket, and returns it
 * connected. Fails fast when the postmaster exits (bad setting, taken port) with the log's reason.
 */
export async function waitReady(options: ReadyOptions): Promise<pg.Client> {
  const started = Date.now()
  const { child } = options
  let exitCode: number | null | undefined =
    child.exitCode !== null || child.signalCode !== null ? child.exitCode : undefined
  const onExit = (code: number | null) => (exitCode = code)
  options.child.once('exit', onExit)
  try {
    for (;;) {
      if (exitCode !== undefined) {
        throw new PgrigError(
          'E_SERVER_EXITED',
          `PostgreSQL server ${options.label} exited during startup (code ${exitCode}): ${lastError(options.logFile)}${settingHint(options.logFile)}${damageHint(lastError(options.logFile))}`,
        )
      }
      if (socketMissing(options.socketDir, options.port)) {
        await pause(started, options)
        continue
      }
      const client = new pg.Client({
        host: options.socketDir,
        port: options.port,
        user: options.user,
        database: 'postgres',
        // A connection the server holds open (pre_auth_delay, a stuck start) ends with the deadline.
        connectionTimeoutMillis: Math.max(50, options.timeoutMs - (Date.now() - started)),
      })
      client.on('error', () => {})
      try {
        await client.connect()
        return client
      } catch (error) {
        await client.end().catch(() => {})
        const code = (error as { code?: string }).code ?? ''
        if (!RETRYABLE.has(code) && Date.now() - started <= options.timeoutMs)
          throw refused(options.label, error)
      }
      await pause(started, options)
    }
  } finally {
    options.child.off('exit', onExit)
  }
}

/**
 * Whether the server's socket is not there yet: until the postmaster listens, a look at the folder
 * (microseconds) stands in for a driver's connection attempt (a client built, a connect refused),
 * which cost a new process's first start CPU beside a server starting on the same cores. A look
 * that fails for another reason lets the connection attempt tell.
 */
function socketMissing(socketDir: string, port: number): boolean {
  try {
    return fs.statSync(path.join(socketDir, `.s.PGSQL.${port}`), { throwIfNoEntry: false }) === undefined
  } catch {
    return false
  }
}

/** Between two looks: 3 ms for the first 200 ms, then 20 ms; past `timeoutMs`, the timeout. */
async function pause(started: number, options: ReadyOptions): Promise<void> {
  const waited = Date.now() - started
  if (waited > options.timeoutMs) throw startupTimeout(options, waited)
  await new Promise((resolve) => setTimeout(resolve, waited < 200 ? 3 : 20))
}

function startupTimeout(options: ReadyOptions, waited: number): PgrigError {
  return new PgrigError(
    'E_STARTUP_TIMEOUT',
    `PostgreSQL server ${options.label} did not accept a connection on ${options.socketDir} (port ${options.port}) after ${options.timeoutMs} ms (startupTimeout), waited ${waited} ms${logEnding(options.logFile)}; raise startupTimeout if the machine is busy`,
  )
}

/** The log lines that explain a failed start (a bad setting is logged before the FATAL that follows it). */
export function lastError(logFile: string): string {
  const tail = logTail(logFile, 30).split('\n')
  const telling = tail.filter((line) => /\b(FATAL|PANIC|ERROR):|parameter "|syntax error in file/.test(line))
  const lines = (telling.length ? telling.slice(0, 2) : tail.slice(-1)).map((line) =>
    line.replace(/^.*?\b(FATAL|PANIC|ERROR|LOG):\s*/, '').trim(),
  )
  return lines.filter(Boolean).join('; ') || `see ${logFile}`
}

const DAMAGED_FILES =
  /incompatible with server|invalid (checkpoint|page|primary checkpoint|resource manager)|could not read|checksum|control file|corrupt/i

/** `; … may be damaged …` when what PostgreSQL said points at the data dir's files, copied from a cached template. */
function damageHint(said: string): string {
  return DAMAGED_FILES.test(said)
    ? '; its data dir is a copy of a cached template, which may be damaged: pgrig doctor checks the cached templates, pgrig cache clean removes them'
    : ''
}

/** The first connection failed for good (not "starting up"): one line, never the driver's stack. */
function refused(label: string, error: unknown): PgrigError {
  const message = (error as Error).message
  const sqlState = (error as { code?: string }).code ?? ''
  return new PgrigError(
    /^XX00[12]$/.test(sqlState) ? 'E_TEMPLATE_DAMAGED' : 'E_SERVER_EXITED',
    `PostgreSQL server ${label} refused pgrig's first connection: ${message}${/^XX00[12]$/.test(sqlState) ? damageHint('corrupt') : damageHint(message)}`,
    { cause: error },
  )
}

/** `; check the setting x …` when the log names the parameter a failed start tripped on. */
function settingHint(logFile: string): string {
  const named = /parameter "([^"]+)"/.exec(logTail(logFile, 30))?.[1]
  return named ? `; fix or remove the setting ${named} (settings in the config, or --setting)` : ''
}

/**
 * Fast shutdown (SIGINT: disconnect clients, checkpoint, exit); if that does not finish in time,
 * the whole process group is killed so nothing is left behind. Waits until the pid is gone too
 * (`waitReaped`).
 */
export async function stopPostmaster(pid: number, timeoutMs = 10_000): Promise<void> {
  await haltPostmaster(pid, timeoutMs)
  await waitReaped(pid)
}

/**
 * `stopPostmaster` up to the postmaster's exit (its port, shared memory and data dir free), without
 * waiting for its parent to reap it: what `pgrig down` overlaps with removing the server's folders.
 */
export async function haltPostmaster(pid: number, timeoutMs = 10_000): Promise<void> {
  if (!isAlive(pid)) return
  signal(pid, 'SIGINT')
  // A throwaway server's fast shutdown takes a few ms (its checkpoint writes to tmpfs, fsync off):
  // look often, the look is one kill(0) and one small /proc read.
  if (await waitUntil(() => !isAlive(pid), timeoutMs, 2)) {
    await waitUntil(() => !isGroupAlive(pid), 2_000, 5)
  } else {
    await killGroup(pid)
  }
}

/**
 * Until the pid is gone altogether, zombie included: what a stop of a server this process spawned
 * waits for (Node reaps its own child at once). A detached server's parent is init, which may take a
 * while to reap it (this project's CI machine's init reaps every 2 s): `pgrig down` does not wait
 * for that (`waitExited`).
 */
export async function waitReaped(pid: number): Promise<void> {
  await waitUntil(() => !signal(pid, 0), 5_000, 10)
}

/**
 * Until `pid` has exited: gone, or a zombie (it runs nothing, holds no port, shared memory or data
 * dir; only its parent's wait is left). What `pgrig down` waits for: a detached server's parent is
 * init, and waiting for init to reap it cost `down` 0–2 s on a machine whose init reaps every 2 s.
 */
export async function waitExited(pid: number, timeoutMs = 5_000): Promise<boolean> {
  return waitUntil(() => !isAlive(pid), timeoutMs, 2)
}

/** SIGKILL to postmaster and backends at once: what a power cut or OOM kill looks like to PostgreSQL. */
export async function killGroup(pid: number): Promise<void> {
  signal(-pid, 'SIGKILL')
  signal(pid, 'SIGKILL')
  await waitUntil(() => !isGroupAlive(pid) && !isAlive(pid), 10_000)
  await waitReaped(pid)
}

/** What a start of the server reads: its settings, engine and folders. */
export interface LaunchTarget {
  spec: ServerSpec
  engine: { binDir: string }
  runAs: RunAs | undefined
  dataDir: string
  socketDir: string
  logFile: string
  /**
   * The server outlives the process that starts it (`pgrig up`): it gets a keeper parent that reaps
   * it at once (`keeperCommand`), since this process will not be there to.
   */
  outlivesCaller: boolean
}

/** A postmaster this process spawned, and a superuser connection to it. */
export interface Launched {
  /** The spawned process: the postmaster, or its keeper, which exits when the postmaster does. */
  child: ChildProcess
  /** The postmaster's pid. */
  pid: number
  client: pg.Client
}

/**
 * Writes the settings for `port`, spawns the postmaster and returns once it answers a real
 * connection; the first start and every restart go through here.
 */
export async function launch(
  ctx: LaunchTarget,
  port: number,
  onSpawn: (pid: number | null) => void,
): Promise<Launched> {
  const { spec, runAs } = ctx
  const tls =
    spec.tls === 'off'
      ? undefined
      : {
          certFile: path.join(ctx.dataDir, 'server.crt'),
          keyFile: path.join(ctx.dataDir, 'server.key'),
          caFile: path.join(ctx.dataDir, 'ca.crt'),
        }
  const keeper = ctx.outlivesCaller ? keeperCommand() : undefined
  const kept = keeper !== undefined
  const conf = path.join(ctx.dataDir, 'pgrig.conf')
  fs.writeFileSync(conf, renderSettings({ spec, port, socketDir: ctx.socketDir, tls }))
  own(conf, runAs)
  const child = spawnPostmaster({
    binDir: ctx.engine.binDir,
    dataDir: ctx.dataDir,
    logFile: ctx.logFile,
    runAs,
    keeper,
  })
  // Recorded before readiness, so a reaper or `pgrig down` can find a server that hangs in startup
  // (a kept one by its data dir: its pid is known once it has written postmaster.pid).
  onSpawn(kept ? null : (child.pid ?? null))
  const client = await waitReady({
    child,
    socketDir: ctx.socketDir,
    port,
    user: spec.superuser.user,
    logFile: ctx.logFile,
    timeoutMs: spec.startupTimeout,
    label: spec.name,
  })
  // The server's lifetime is managed explicitly (stop(), the reaper, `pgrig down`), never by our event loop.
  child.unref()
  const pid = kept ? livePostmasterPid(ctx.dataDir) : child.pid
  if (!pid) {
    await client.end()
    throw new PgrigError(
      'E_SERVER_EXITED',
      `PostgreSQL server ${spec.name} answered but its pid is not in ${ctx.dataDir}/postmaster.pid${logEnding(ctx.logFile)}`,
    )
  }
  if (kept) onSpawn(pid)
  return { child, pid, client }
}
