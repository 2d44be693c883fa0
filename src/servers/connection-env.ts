import type { ServerInfo } from './server-info.js'

function fields(server: ServerInfo): Record<string, string> {
  const env: Record<string, string> = {
    HOST: server.host,
    PORT: String(server.port),
    USER: server.user,
    PASSWORD: server.password,
    DATABASE: server.database,
  }
  if (server.tls) {
    env.SSLMODE = server.tls.sslmode
    if (server.tls.caFile) env.SSLROOTCERT = server.tls.caFile
    if (server.tls.certFile) env.SSLCERT = server.tls.certFile
    if (server.tls.keyFile) env.SSLKEY = server.tls.keyFile
  }
  return env
}

export function envName(serverName: string): string {
  return serverName.toUpperCase().replace(/[^A-Z0-9]/g, '_')
}

/**
 * The variables `pgrig run` exports: libpq's own (`PGHOST`…) and `DATABASE_URL` for the first
 * server, and `PGRIG_<NAME>_URL`, `PGRIG_<NAME>_HOST`… for every server, with
 * `PGRIG_<NAME>_SUPERUSER_URL` for the servers pgrig runs (so tools can create databases).
 */
export function connectionEnv(servers: ServerInfo[]): Record<string, string> {
  const env: Record<string, string> = {}
  const first = servers[0]
  if (first) {
    env.DATABASE_URL = first.url
    for (const [key, value] of Object.entries(fields(first))) env[`PG${key}`] = value
  }
  for (const server of servers) {
    const prefix = `PGRIG_${envName(server.name)}_`
    env[`${prefix}URL`] = server.url
    for (const [key, value] of Object.entries(fields(server))) env[`${prefix}${key}`] = value
    // An external server's "superuser" is the URL it was given: pgrig holds no superuser of it.
    if (server.engine !== 'external') env[`${prefix}SUPERUSER_URL`] = server.superuser.url
  }
  return env
}
