import type { ServerInfo } from '../servers/server-info.js'

// On globalThis: Vitest loads its globalSetup (which starts the run's databases) and its reporters as separate module copies.
const SERVERS = Symbol.for('pgrig.servers.used')

function registry(): Map<string, ServerInfo> {
  const holder = globalThis as { [SERVERS]?: Map<string, ServerInfo> }
  return (holder[SERVERS] ??= new Map())
}

/** Notes a server a test run of this process uses, so a report can name it without `pgrig run`. */
export function recordServerUsed(server: ServerInfo): void {
  registry().set(`${server.host}:${server.port}`, server)
}

/** The servers test runs of this process have used (the plugin's own, a reused one, an external one). */
export function serversUsed(): ServerInfo[] {
  return [...registry().values()]
}
