import http from 'node:http'
import os from 'node:os'
import { ownedRun } from '../servers/run.js'
import type { ServerInfo } from '../servers/server-info.js'
import { assertExternalAllowed } from '../databases/guard.js'
import { dropLeftovers } from '../databases/leftovers.js'
import { holdRunLock } from '../databases/run-lock.js'
import { PgrigError } from '../errors.js'
import { listenHttp } from '../http-guard.js'
import { apiHandler } from './http.js'
import { TemplateManager } from './manager.js'

export interface ServeOptions {
  /** The PostgreSQL server test databases live on (started by pgrig, or external). */
  server: ServerInfo
  /** An external server is refused unless this is true; pgrig then only creates its own pgrig_* databases. */
  allowExternal?: boolean | undefined
  /** Address the API listens on (default 127.0.0.1; anything beyond loopback must be asked for). */
  host?: string | undefined
  /** Host names besides its address that may reach the API (`--allow-host`); see http-guard.ts. */
  allowedHosts?: readonly string[] | undefined
  /** API port (default 5000, IntegreSQL's; 0 picks a free one). */
  port?: number | undefined
  /** Test databases kept ready per template (default: the number of CPUs, as IntegreSQL). */
  poolSize?: number | undefined
  /** Cap on test databases per template (default: 4 × the number of CPUs, as IntegreSQL). */
  poolMax?: number | undefined
  /** How long a test database request waits for a template being built (default 60 000 ms). */
  finalizeTimeoutMs?: number | undefined
  /** How long a test database request waits for a free database at the cap (default 60 000 ms). */
  getTimeoutMs?: number | undefined
  /**
   * Test databases created (and dropped) at once per template (default 2 per core, 4–8: concurrent
   * CREATE DATABASEs share their checkpoints, so even 2 cores make half again as many a second with 4).
   */
  cleaningWorkers?: number | undefined
  /**
   * Holders must give databases back (IntegreSQL's INTEGRESQL_TEST_DB_FORCE_RETURN): at the cap a
   * request waits up to `getTimeoutMs`. By default the database handed out longest ago is taken
   * back instead, so a fleet that forgets to give back never outgrows the cap.
   */
  forceReturn?: boolean | undefined
  /** Extensions the superuser creates in every new template before the client migrates it (config `extensions`). */
  extensions?: string[] | undefined
}

export interface Serving {
  /** `http://host:port` */
  url: string
  /** What IntegreSQL clients read from INTEGRESQL_CLIENT_BASE_URL: `http://host:port/api`. */
  baseUrl: string
  host: string
  port: number
  runId: string
  /** Each finalized template's pool figures (how many checkouts waited, databases created, reclaimed, …). */
  stats(): ReturnType<TemplateManager['stats']>
  /** Stops the API, drops the test databases, releases the run's lock. The server itself is the caller's. */
  close(): Promise<void>
}

export const DEFAULT_SERVE_PORT = 5000

/**
 * The IntegreSQL-compatible API over pgrig's pool, on a running server: holds this run's lock on
 * it, drops dead runs' leftovers, and answers until `close()`.
 */
export async function startServe(options: ServeOptions): Promise<Serving> {
  const { server } = options
  if (server.engine === 'external') {
    assertExternalAllowed(server.url, { allowExternal: options.allowExternal, source: '--url' })
  }
  const cpus = os.availableParallelism()
  const poolSize = options.poolSize ?? cpus
  const poolMax = options.poolMax ?? cpus * 4
  if (poolMax < 1 || poolSize < 0 || poolMax < poolSize) {
    throw new PgrigError(
      'E_CONFIG_INVALID',
      `the test pool sizes do not fit: initial ${poolSize}, max ${poolMax}; the max must be at least 1 and at least the initial size`,
    )
  }
  const run = await ownedRun()
  const adminUrl = server.superuser.url
  const lock = await holdRunLock(adminUrl, run.runId)
  try {
    await dropLeftovers(adminUrl)
    const manager = new TemplateManager({
      adminUrl,
      appUrl: server.url,
      runId: run.runId,
      poolSize,
      poolMax,
      finalizeTimeoutMs: options.finalizeTimeoutMs ?? 60_000,
      getTimeoutMs: options.getTimeoutMs ?? 60_000,
      cleaningWorkers: options.cleaningWorkers ?? Math.min(8, Math.max(4, cpus * 2)),
      forceReturn: options.forceReturn,
      extensions: options.extensions,
      localServer: server.engine !== 'external' && server.pid !== null,
    })
    const http_ = http.createServer(
      { keepAliveTimeout: 60_000 },
      apiHandler(manager, { allowedHosts: options.allowedHosts }),
    )
    const host = options.host ?? '127.0.0.1'
    let port: number
    try {
      ;({ port } = await listenHttp(
        http_,
        host,
        options.port ?? DEFAULT_SERVE_PORT,
        'pass --port <n> (or INTEGRESQL_PORT), or 0 for a free one',
      ))
    } catch (error) {
      await manager.close()
      throw error
    }
    const shown = host.includes(':') ? `[${host}]` : host
    const url = `http://${shown}:${port}`
    let closing: Promise<void> | undefined
    return {
      url,
      baseUrl: `${url}/api`,
      host,
      port,
      runId: run.runId,
      stats: () => manager.stats(),
      close: () =>
        (closing ??= (async () => {
          await new Promise<void>((resolve) => {
            http_.close(() => resolve())
            http_.closeAllConnections()
          })
          await manager.close()
          await lock.release()
        })()),
    }
  } catch (error) {
    await lock.release()
    throw error
  }
}

/** IntegreSQL's environment variables that make sense for pgrig, as ServeOptions. */
export function serveOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<ServeOptions> {
  const int = (key: string, min: number): number | undefined => {
    const raw = env[key]?.trim()
    if (raw === undefined || raw === '') return undefined
    const value = Number(raw)
    if (!Number.isInteger(value) || value < min) {
      throw new PgrigError(
        'E_CONFIG_INVALID',
        `${key}=${raw} is not a whole number ≥ ${min}; fix or unset it`,
      )
    }
    return value
  }
  // Go's strconv.ParseBool, which IntegreSQL reads its switches with.
  const bool = (key: string): boolean | undefined => {
    const raw = env[key]?.trim()
    if (raw === undefined || raw === '') return undefined
    if (/^(1|t|true)$/i.test(raw)) return true
    if (/^(0|f|false)$/i.test(raw)) return false
    throw new PgrigError('E_CONFIG_INVALID', `${key}=${raw} is not true or false; fix or unset it`)
  }
  const options: Partial<ServeOptions> = {
    port: int('INTEGRESQL_PORT', 0),
    host: env.INTEGRESQL_ADDRESS?.trim() || undefined,
    poolSize: int('INTEGRESQL_TEST_INITIAL_POOL_SIZE', 0),
    poolMax: int('INTEGRESQL_TEST_MAX_POOL_SIZE', 1),
    finalizeTimeoutMs: int('INTEGRESQL_TEMPLATE_FINALIZE_TIMEOUT_MS', 0),
    getTimeoutMs: int('INTEGRESQL_TEST_DB_GET_TIMEOUT_MS', 0),
    cleaningWorkers: int('INTEGRESQL_NUM_OF_CLEANING_WORKERS', 1),
    forceReturn: bool('INTEGRESQL_TEST_DB_FORCE_RETURN'),
  }
  for (const key of Object.keys(options) as (keyof ServeOptions)[]) {
    if (options[key] === undefined) delete options[key]
  }
  return options
}
