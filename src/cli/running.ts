import path from 'node:path'
import { livePidOf, listCompanions, type ServiceDetails } from '../servers/companions.js'
import { livePostmasterPid } from '../servers/process-alive.js'
import { listRuns, type RunState } from '../servers/run-dir.js'
import type { ServerInfo } from '../servers/server-info.js'
import { chooseDefault, type DefaultChoice } from '../servers/default-server.js'
import { DEFAULT_SERVER_NAME, resolveServers } from '../config/resolve.js'
import { configOf } from './server-flags.js'

export interface RunningServer {
  run: RunState
  server: ServerInfo
  alive: boolean
}

/** Every server any run on this machine (for this OS user) recorded, oldest run first. */
export function runningServers(): RunningServer[] {
  return listRuns()
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt))
    .flatMap((run) =>
      run.servers.map((server) => ({
        run,
        server,
        alive:
          server.engine === 'external' ||
          (server.dataDir !== null && livePostmasterPid(server.dataDir) !== undefined),
      })),
    )
}

/**
 * The server `DATABASE_URL` and `PG*` mean for `pgrig env` and `status` (one rule, `chooseDefault`):
 * `--name`; inside `pgrig run`, the run's own; else the config's first server. The config is read
 * only when the first two do not decide.
 */
export async function defaultServer(
  live: RunningServer[],
  flags: { name?: string | undefined; config?: string | undefined },
): Promise<DefaultChoice | undefined> {
  const servers = live.map(({ run, server }) => ({ runId: run.runId, server }))
  const runId = process.env.PGRIG_RUN_ID
  const port = Number(process.env.PGPORT) || undefined
  const inRun = runId !== undefined && servers.some((s) => s.runId === runId)
  let configFirst: string | undefined
  if (flags.name === undefined && !inRun) {
    const loaded = await configOf({ config: flags.config })
    configFirst = loaded
      ? resolveServers(loaded.config, {}, path.dirname(loaded.file))[0]?.name
      : DEFAULT_SERVER_NAME
  }
  return chooseDefault(servers, { name: flags.name, runId, port, configFirst })
}

export interface RunningService {
  run: RunState
  service: ServiceDetails & { name: string; pid: number }
  /** `running`, `done` (a once job that exited 0) or `stopped` (its process is gone). */
  state: 'running' | 'done' | 'stopped'
}

/** Every configured service any run on this machine (for this OS user) recorded, oldest run first. */
export function runningServices(): RunningService[] {
  return listRuns()
    .sort((a, b) => a.createdAt.localeCompare(b.createdAt))
    .flatMap((run) =>
      listCompanions(run.runId).flatMap((record) => {
        if (!record.service) return []
        // The process that runs it now: its own after an `exec`, one it left behind after a `sh -c '… &'`.
        const pid = livePidOf(record)
        const state = pid !== undefined ? 'running' : record.service.once ? 'done' : 'stopped'
        return [
          {
            run,
            service: { name: record.name, pid: pid ?? record.pid, ...record.service },
            state,
          } as RunningService,
        ]
      }),
    )
}
