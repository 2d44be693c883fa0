import { livePidOf, listCompanions, type ServiceDetails } from '../servers/companions.js'
import { livePostmasterPid } from '../servers/process-alive.js'
import { listRuns, type RunState } from '../servers/run-dir.js'
import type { ServerInfo } from '../servers/server-info.js'

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
