import { startServers, type StartedServer } from '../servers/start-server.js'
import { connectionEnv } from '../servers/connection-env.js'
import { connectExternal } from '../servers/external.js'
import { joinedRun } from '../servers/run.js'
import type { ServerInfo } from '../servers/server-info.js'
import { reportDeath } from '../servers/server-watch.js'
import type { ServerSpec } from '../config/resolve.js'
import type { ServiceSpec } from '../config/services.js'
import type { PgrigError } from '../errors.js'
import { checkPrograms, type ServiceInfo } from '../services/service.js'
import { startServices, type StartedServices } from '../services/services.js'
import { runCommand } from './command.js'
import { commandEnv, sharedMajor } from './env.js'

/** An HTTP API started over the first server for the command (`pgrig run --serve`). */
export interface Served {
  baseUrl: string
  close(): Promise<void>
}

export interface ServersRunOptions {
  /** The command and its arguments. */
  command: string[]
  /** The servers, external ones (a URL) included: those are checked and described, never started. */
  specs: ServerSpec[]
  /** Started after the servers, seeing their connection (`DATABASE_URL`, `PG*`). */
  services: ServiceSpec[]
  /** Leave servers and services running afterwards, in a detached run (`pgrig down` stops them). */
  keep?: boolean
  /** The names were chosen (a flag or the config), so a name taken is an error, not renamed. */
  explicitName: boolean
  /** The selection (`PGRIG_ONLY` / `PGRIG_SKIP`). */
  env?: Record<string, string>
  /** `PGRIG_REPORT_DIR`, when asked. */
  reportDir?: string | undefined
  /** Serves an API over the first server; its `baseUrl` becomes `INTEGRESQL_CLIENT_BASE_URL`. */
  serve?: (server: ServerInfo) => Promise<Served>
  /** Everything is up, before the command starts. */
  onUp?: (servers: ServerInfo[], services: ServiceInfo[]) => void
  /** A postmaster died while the command ran (one line). */
  onDeath: (error: PgrigError) => void
}

/**
 * Starts the servers and services, runs the command with their connection in its environment,
 * then stops them (unless `keep`). Resolves the command's exit code; 130 when Ctrl-C came while
 * starting. A start that fails stops what had started and throws its one line.
 */
export async function runWithServers(options: ServersRunOptions): Promise<number> {
  const { specs, keep = false } = options
  // A missing program is named before any server starts.
  checkPrograms(options.services)
  let startedServers: StartedServer[] = []
  let services: StartedServices | undefined
  let deaths: { stop(): void }[] = []
  let served: Served | undefined
  let interrupted = false
  const onSignal = () => (interrupted = true)
  process.on('SIGINT', onSignal)
  try {
    const external = await Promise.all(specs.filter((s) => s.engine === 'external').map(connectExternal))
    // Servers, services and the command share one run, so they stop (and are reaped) together.
    const run = await joinedRun({ detached: keep })
    startedServers = await startServers(
      specs.filter((s) => s.engine !== 'external'),
      { detached: keep, explicitName: options.explicitName, run },
    )
    deaths = startedServers.map((c) => reportDeath(c.info, c.process, c.runId, options.onDeath))
    const servers = [...startedServers.map((c) => c.info), ...external]
    services = await startServices(options.services, {
      run,
      processEnv: connectionEnv(servers),
    }).catch(async (error: unknown) => {
      // Stopped on purpose: not a death to report.
      for (const death of deaths) death.stop()
      await Promise.all(startedServers.map((c) => c.stop()))
      throw error
    })
    options.onUp?.(
      servers,
      services.list.map((service) => service.info),
    )
    if (options.serve && servers[0]) served = await options.serve(servers[0])
    if (interrupted) return 130
    return await runCommand(options.command, {
      env: commandEnv({
        servers,
        serveUrl: served?.baseUrl,
        env: { ...options.env, ...services.env },
        runId: startedServers[0]?.runId,
        pgVersion: sharedMajor(servers.map((s) => s.version)),
        reportDir: options.reportDir,
      }),
      runId: run.runId,
    })
  } finally {
    process.off('SIGINT', onSignal)
    for (const death of deaths) death.stop()
    await served?.close()
    if (!keep) await Promise.all([...startedServers.map((c) => c.stop()), services?.stop()])
  }
}
