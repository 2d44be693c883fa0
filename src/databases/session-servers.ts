import type { ServerInfo } from '../servers/server-info.js'

// On globalThis: Vitest loads its globalSetup (which starts sessions) and its reporters as separate module copies.
const SERVERS = Symbol.for('pgrig.session.servers')

function registry(): Map<string, ServerInfo> {
  const holder = globalThis as { [SERVERS]?: Map<string, ServerInfo> }
  return (holder[SERVERS] ??= new Map())
}

/** Notes the server a session of this process uses, so a report can name it without `pgrig run`. */
export function recordSessionServer(server: ServerInfo): void {
  registry().set(`${server.host}:${server.port}`, server)
}

/** The servers sessions of this process have used (the plugin's own, a reused one, an external one). */
export function sessionServers(): ServerInfo[] {
  return [...registry().values()]
}
