import type { ServerInfo } from '../servers/server-info.js'

/** A server in a run's `up in … ms` line: `main (PostgreSQL 18.1, port 54321)`. */
export function describeServer(server: ServerInfo): string {
  return `${server.name} (PostgreSQL ${server.version}, port ${server.port})`
}
