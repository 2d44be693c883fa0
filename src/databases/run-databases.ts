import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { chooseDefault } from '../servers/default-server.js'
import type { ChildProcess } from 'node:child_process'
import { startServer, type StartedServer } from '../servers/start-server.js'
import { connectExternal } from '../servers/external.js'
import { isAlive } from '../servers/process-alive.js'
import { detachedRun, ownedRun, Run } from '../servers/run.js'
import { listRuns, readState, removeRunDirs, type RunProject } from '../servers/run-dir.js'
import type { ServerInfo } from '../servers/server-info.js'
import { watchServer } from '../servers/server-watch.js'
import { resolveServer } from '../config/resolve.js'
import type { ServerOptions, ServiceOptions } from '../config/schema.js'
import { PgrigError } from '../errors.js'
import { ClonePool, type Lease } from './clone-pool.js'
import { assertExternalAllowed, assertPostgresUrl } from './guard.js'
import { dropOnSignal } from './drop-on-signal.js'
import { keepOnSignal } from './keep-on-signal.js'
import { dropLeftovers } from './leftovers.js'
import { holdRunLock } from './run-lock.js'
import type { Migrations } from './migrations.js'
import { recordServerUsed } from './servers-used.js'
import { ensureTemplate, type Template } from './template.js'
import { checkIsolationOptions, type IsolationMode } from './modes/index.js'
import { assertExcludeShape } from './truncate/exclude.js'

export type { IsolationMode } from './modes/index.js'

/** Everything the test integrations (Vitest, node:test, Jest) accept. */
export interface PgrigOptions {
  /** A folder of `.sql` files, a function `(url) => Promise<void>`, or `{ command }` run with DATABASE_URL set. */
  migrations?: Migrations
  /** A `.sql` file run after the migrations. */
  seed?: string
  /** Extensions the superuser creates in the template before the migrations (`['postgis']`). */
  extensions?: string[]
  isolation?: IsolationMode
  /** Tables truncate mode leaves alone (schema-qualified or bare names). */
  exclude?: string[]
  /** The server pgrig starts when none is given (`pg`, `settings`, `profile`…). */
  server?: ServerOptions
  /** Use this server instead of starting one; needs `allowExternal: true`. */
  url?: string
  allowExternal?: boolean
  /** Keep using a server a previous run left up (`pgrig up`), and leave a new one up for the next run. */
  reuse?: boolean
  pool?: { size?: number; max?: number }
  /** Keep a failed test's database and print its URL (default: on in watch mode). */
  keepFailed?: boolean
  redis?: boolean
  /**
   * Companions the suite needs, as under `services` in pgrig.config: started after the server (in
   * `after` order), their `env` set in every test process, stopped with the run.
   */
  services?: Record<string, ServiceOptions>
  /** Folder that migrations and seed paths are relative to. */
  cwd?: string
  /**
   * The files a function or command migration reads (paths, folders or globs like `'src/db/**'`,
   * relative to `cwd`): a change to one rebuilds the template. Unset, every file of the project counts.
   */
  templateInputs?: string[]
}

/** The main-process half of a test run: a server, the template and the clone pool. */
export interface RunDatabases {
  server: ServerInfo
  template: Template
  pool: ClonePool
  runId: string
  /** The run's own folder (sockets for the broker go here). */
  runDir: string
  /** Leftover databases of dead runs dropped when the run's databases started. */
  droppedLeftovers: string[]
  acquire(): Promise<Lease>
  close(): Promise<void>
}

interface Server {
  info: ServerInfo
  stop?: () => Promise<void>
  /** The postmaster, when this process started it (its exit code or signal can be told). */
  process?: ChildProcess | undefined
  /** The run that started it, where its starter notes how it ended (`pgrig run`, a reused server). */
  runId?: string
  /** For a server these databases' run started: how it stays up instead of stopping, when a database was kept. */
  keepUp?: { note: string; detach: () => void }
}

/**
 * The project a `reuse` run belongs to: its folder (real path) and a hash of the server options.
 * Recorded in the run's state; a run of another folder or other options is never adopted.
 */
function projectOf(options: PgrigOptions): RunProject {
  const root = path.resolve(options.cwd ?? process.cwd())
  const sorted = (value: unknown): unknown =>
    value && typeof value === 'object' && !Array.isArray(value)
      ? Object.fromEntries(
          Object.entries(value)
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([k, v]) => [k, sorted(v)]),
        )
      : value
  const configHash = createHash('sha256')
    .update(`pgrig-reuse-v1\n${JSON.stringify(sorted(options.server ?? {}))}`)
    .digest('hex')
  return { root: fs.existsSync(root) ? fs.realpathSync(root) : root, configHash }
}

/**
 * `reuse: true`: the server an earlier run of this project (same folder, same server options)
 * left up, else a new one left up for the next run. Never another project's, nor `pgrig up`'s
 * (a `pgrig run` names its server through PGRIG_RUN_ID instead).
 */
async function reusedServer(options: PgrigOptions): Promise<Server> {
  const project = projectOf(options)
  const ours = listRuns()
    .filter((run) => run.detached && run.project?.root === project.root)
    .filter((run) => run.project?.configHash === project.configHash)
    .flatMap((run) => run.servers.map((info) => ({ info, runId: run.runId })))
    .filter(({ info }) => info.pid !== null && isAlive(info.pid))
  const wanted = options.server?.name
  const found = wanted ? ours.find((s) => s.info.name === wanted) : ours[0]
  if (found) return found
  const run = await detachedRun(project)
  // Named after the project, so `pgrig down <name>` stops this project's server and no other.
  const name = `pgrig-reuse-${createHash('sha256').update(`${project.root}\n${project.configHash}`).digest('hex').slice(0, 8)}`
  try {
    const started = await startServer({ name, ...options.server, quiet: true, run })
    return { info: started.info, process: started.process, runId: started.runId }
  } catch (error) {
    removeRunDirs(run.runId)
    throw error
  }
}

/** The server of a `pgrig run` to use, by the rule `pgrig env` follows too (`chooseDefault`). */
function serverOfRun(runId: string, name?: string): ServerInfo | undefined {
  const servers = (readState(runId)?.servers ?? []).map((server) => ({ runId, server }))
  return chooseDefault(servers, { name, runId, port: Number(process.env.PGPORT) || undefined })?.server
}

async function resolveTarget(options: PgrigOptions): Promise<Server> {
  if (options.url !== undefined) {
    assertExternalAllowed(options.url, { allowExternal: options.allowExternal, source: 'the url option' })
    return { info: await connectExternal(resolveServer({ engine: 'external', url: options.url })) }
  }
  const fromRun = process.env.PGRIG_RUN_ID
  if (fromRun) {
    const info = serverOfRun(fromRun, options.server?.name)
    if (info) return { info, runId: fromRun }
  }
  if (options.reuse) return reusedServer(options)
  // A run of its own, so that keeping a failed test's database can keep this server (and only it)
  // up after the test run; named after the run, so `pgrig down <name>` stops only it.
  const run = new Run(false)
  let started: StartedServer
  try {
    started = await startServer({ name: `test-${run.runId}`, ...options.server, quiet: true, run })
  } catch (error) {
    removeRunDirs(run.runId)
    throw error
  }
  return {
    info: started.info,
    process: started.process,
    stop: async () => {
      await started.stop()
      removeRunDirs(run.runId)
    },
    keepUp: {
      note: `its server ${started.name} stays up after the run; stop it with: npx pgrig down ${started.name}`,
      detach: () => run.detach(),
    },
  }
}

/**
 * Every option a run takes, checked before anything starts (the integrations call it first too):
 * a typo must not silently run tests without isolation, an option that would do nothing must not
 * look as if it did. Returns the isolation mode.
 */
export function checkOptions(options: PgrigOptions): ReturnType<typeof checkIsolationOptions> {
  // The shape first, whatever the mode: a list of names, each one a table name.
  assertExcludeShape(options.exclude)
  const mode = checkIsolationOptions(options)
  const inputs = options.templateInputs
  if (
    inputs !== undefined &&
    (!Array.isArray(inputs) || inputs.some((i) => typeof i !== 'string' || !i.trim()))
  ) {
    throw new PgrigError(
      'E_CONFIG_INVALID',
      `templateInputs must be a list of paths or globs relative to the project (like 'src/db/**'), got ${JSON.stringify(inputs)}`,
    )
  }
  if (options.url !== undefined) {
    assertExternalAllowed(options.url, { allowExternal: options.allowExternal, source: 'the url option' })
  }
  // Code under test often reads DATABASE_URL itself: an integration run must not go on while it
  // points at SQLite or MySQL (an empty one is as good as unset).
  const inherited = process.env.DATABASE_URL
  if (inherited !== undefined && inherited.trim() !== '') assertPostgresUrl(inherited, 'DATABASE_URL')
  for (const key of ['size', 'max'] as const) {
    const value = options.pool?.[key]
    if (value !== undefined && (!Number.isInteger(value) || value < (key === 'max' ? 1 : 0))) {
      throw new PgrigError(
        'E_CONFIG_INVALID',
        `pool.${key} must be a whole number${key === 'max' ? ' ≥ 1' : ' ≥ 0'}, got ${value}`,
      )
    }
  }
  return mode
}

/** Starts (or finds) the server, builds or reuses the template, cleans leftovers, and fills the pool. */
export async function startRunDatabases(options: PgrigOptions = {}): Promise<RunDatabases> {
  const mode = checkOptions(options)
  const run = await ownedRun()
  const server = await resolveTarget(options)
  let runLock: Awaited<ReturnType<typeof holdRunLock>> | undefined
  const watch = watchServer(server.info, server.process, server.runId ?? run.runId)
  try {
    const adminUrl = server.info.superuser.url
    // Held before anything is created, so a run starting on another machine never takes ours for dead.
    runLock = await holdRunLock(adminUrl, run.runId)
    const droppedLeftovers = await dropLeftovers(adminUrl)
    const template = await ensureTemplate({
      adminUrl,
      appUrl: server.info.url,
      runId: run.runId,
      migrations: options.migrations,
      seed: options.seed,
      templateInputs: options.templateInputs,
      extensions: options.extensions,
      cwd: options.cwd,
      settings: options.server?.settings,
      server: { engine: server.info.engine, version: server.info.version },
    })
    const pool = new ClonePool({
      adminUrl,
      appUrl: server.info.url,
      template: template.name,
      runId: run.runId,
      serverVersionNum: template.serverVersionNum,
      size: options.pool?.size,
      max: options.pool?.max,
      logFile: server.info.logFile,
      serverDied: () => watch.died(),
      keptNote: server.keepUp?.note,
      // A server started here (this run's, a `pgrig run`'s or `pgrig up`'s) has a postmaster pid on this machine.
      localServer: server.info.engine !== 'external' && server.info.pid !== null,
    })
    await mode.checkSchema?.(pool, options).catch(async (error: unknown) => {
      await pool.close()
      throw error
    })
    const keepUp = server.keepUp
    const unkeep = keepUp && keepOnSignal(() => pool.stats().kept.length > 0 && !watch.died(), keepUp.detach)
    // A server that outlives this process keeps what an interrupted run leaves on it until some later start.
    const unguard = server.stop ? undefined : dropOnSignal(adminUrl, run.runId)
    let closing: Promise<void> | undefined
    recordServerUsed(server.info)
    return {
      server: server.info,
      template,
      pool,
      runId: run.runId,
      runDir: run.dir,
      droppedLeftovers,
      acquire: () => pool.acquire(),
      close: () =>
        (closing ??= (async () => {
          unkeep?.()
          unguard?.()
          // A kept database is only worth its URL while its server runs.
          const keepUp = server.keepUp !== undefined && pool.stats().kept.length > 0 && !watch.died()
          try {
            // A server this run stops goes with its data: its clones need no drop.
            await pool.close({ dropClones: !server.stop || keepUp })
          } finally {
            await runLock?.release()
            watch.stop()
            if (keepUp) server.keepUp?.detach()
            else await server.stop?.()
          }
        })()),
    }
  } catch (error) {
    await runLock?.release()
    watch.stop()
    await server.stop?.()
    throw error
  }
}
