import { livePostmasterPid } from '../cluster/process-alive.js'
import { listRuns, type RunState } from '../cluster/run-dir.js'
import type { ServerInfo } from '../cluster/server-info.js'

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
