import path from 'node:path'
import { connectionEnv } from '../servers/connection-env.js'
import type { ServerInfo } from '../servers/server-info.js'

export interface CommandEnvOptions {
  /** The servers the command connects to (`DATABASE_URL`, `PG*`, `PGRIG_<NAME>_*`). */
  servers: ServerInfo[]
  /** Lets pgrig/vitest (and the other integrations) find the run's servers and superuser in its state file. */
  runId?: string | undefined
  /** The IntegreSQL API of `--serve` (`INTEGRESQL_CLIENT_BASE_URL`). */
  serveUrl?: string | undefined
  /** The selection (`PGRIG_ONLY` / `PGRIG_SKIP`) and the services' env. */
  env?: Record<string, string> | undefined
  /** `PGRIG_PG_VERSION`: the version the reporter files results under. */
  pgVersion?: string | undefined
  /** `PGRIG_REPORT_DIR`, resolved. */
  reportDir?: string | undefined
}

/** The environment a run's command sees: pgrig's own on top of the caller's. */
export function commandEnv(options: CommandEnvOptions): NodeJS.ProcessEnv {
  return { ...process.env, ...pgrigEnv(options) }
}

/** pgrig's own variables of a run (what `pgrig serve --json` prints as `env`). */
export function pgrigEnv(options: CommandEnvOptions): Record<string, string> {
  return {
    ...(options.serveUrl ? { INTEGRESQL_CLIENT_BASE_URL: options.serveUrl } : {}),
    ...options.env,
    ...connectionEnv(options.servers),
    ...(options.runId ? { PGRIG_RUN_ID: options.runId } : {}),
    ...(options.pgVersion ? { PGRIG_PG_VERSION: options.pgVersion } : {}),
    ...(options.reportDir ? { PGRIG_REPORT_DIR: path.resolve(options.reportDir) } : {}),
  }
}

/**
 * The servers' major when they share one. With several, there is none: the reporter takes the
 * major of the server PGPORT points at.
 */
export function sharedMajor(versions: string[]): string | undefined {
  const majors = new Set(versions.map((version) => version.split('.')[0]!))
  return majors.size === 1 ? [...majors][0] : undefined
}
