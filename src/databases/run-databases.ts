import { chooseDefault } from '../servers/default-server.js'
import type { ChildProcess } from 'node:child_process'
import { startServer, type StartedServer } from '../servers/start-server.js'
import { connectExternal } from '../servers/external.js'
import { isAlive } from '../servers/process-alive.js'
import { ownedRun, Run } from '../servers/run.js'
import { listRuns, readState, removeRunDirs } from '../servers/run-dir.js'
import type { ServerInfo } from '../servers/server-info.js'
import { watchServer } from '../servers/server-watch.js'
import { resolveServer } from '../config/resolve.js'
import type { ServerOptions, ServiceOptions } from '../config/schema.js'
import { PgrigError } from '../errors.js'
import { ClonePool, type Lease } from './clone-pool.js'
import { assertExternalAllowed, assertPostgresUrl } from './guard.js'
import { dropOnSignal } from './drop-on-signal.js'
import { dropLeftovers } from './leftovers.js'
import { holdRunLock } from './run-lock.js'
import type { Migrations } from './migrations.js'
import { recordServerUsed } from './servers-used.js'
import { ensureTemplate, type Template } from './template.js'
import { withClient } from './admin.js'
import { readTables } from './truncate/catalog.js'
import { assertExcludeMatches, assertExcludeShape } from './truncate/exclude.js'

export type IsolationMode = 'database' | 'transaction' | 'truncate'

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

const REUSE_NAME = 'pgrig-reuse'

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
  if (options.reuse) {
    // A server of a detached run (`pgrig up`, or a previous run with reuse): the named one, else
    // the one reuse started before, else any that is still running.
    const servers = listRuns()
      .filter((run) => run.detached)
      .flatMap((run) => run.servers.map((info) => ({ info, runId: run.runId })))
      .filter(({ info }) => info.pid !== null && isAlive(info.pid))
    const wanted = options.server?.name
    const found = wanted
      ? servers.find((s) => s.info.name === wanted)
      : (servers.find((s) => s.info.name === REUSE_NAME) ?? servers[0])
    if (found) return found
  }
  if (options.reuse) {
    const started = await startServer({ name: REUSE_NAME, ...options.server, quiet: true, detached: true })
    return { info: started.info, process: started.process, runId: started.runId }
  }
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

const MODES: IsolationMode[] = ['database', 'transaction', 'truncate']

/** Checked before anything starts: a typo must not silently run tests without isolation. */
function checkOptions(options: PgrigOptions): void {
  if (options.isolation !== undefined && !MODES.includes(options.isolation)) {
    throw new PgrigError(
      'E_CONFIG_INVALID',
      `isolation ${JSON.stringify(options.isolation)} is not a mode; use ${MODES.map((m) => `'${m}'`).join(', ')}`,
    )
  }
  if (options.url !== undefined) {
    assertExternalAllowed(options.url, { allowExternal: options.allowExternal, source: 'the url option' })
  }
  assertExcludeShape(options.exclude)
  const mode = options.isolation ?? 'database'
  if (options.exclude?.length && mode !== 'truncate') {
    throw new PgrigError(
      'E_CONFIG_INVALID',
      `exclude names tables a truncate reset leaves alone, and isolation '${mode}' resets nothing that way (${mode === 'database' ? 'every test gets its own clone' : 'every test is rolled back'}): drop exclude, or use isolation 'truncate'`,
    )
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
}

/** A name in `exclude` that matches no table of the migrated schema fails the run before any test. */
async function checkExclude(pool: ClonePool, exclude: string[]): Promise<void> {
  const lease = await pool.acquire()
  try {
    await withClient(lease.url, async (client) => assertExcludeMatches(exclude, await readTables(client)))
  } finally {
    pool.release(lease.name)
  }
}

/** Starts (or finds) the server, builds or reuses the template, cleans leftovers, and fills the pool. */
export async function startRunDatabases(options: PgrigOptions = {}): Promise<RunDatabases> {
  checkOptions(options)
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
    if (options.isolation === 'truncate' && options.exclude?.length) {
      await checkExclude(pool, options.exclude).catch(async (error: unknown) => {
        await pool.close()
        throw error
      })
    }
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
