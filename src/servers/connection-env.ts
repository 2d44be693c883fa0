import { derKeyFile } from './certs.js'
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
  } else if (server.engine !== 'external') {
    // As in its URL: libpq's `prefer` would do, but lib/pq's default is `require`.
    env.SSLMODE = 'disable'
  }
  return env
}

export function envName(serverName: string): string {
  return serverName.toUpperCase().replace(/[^A-Z0-9]/g, '_')
}

/**
 * The app user over the server's unix socket: `host=` names the folder, which libpq, node-postgres,
 * postgres.js, pgx, psycopg and asyncpg read (JDBC has no unix sockets). `sslmode=disable`, so a
 * TLS server's `PGSSLMODE` in the same environment does not make a client try TLS on the socket.
 */
export function socketUrl(server: ServerInfo & { socketDir: string }): string {
  const auth = `${encodeURIComponent(server.user)}:${encodeURIComponent(server.password)}`
  const query = new URLSearchParams({ host: server.socketDir, port: String(server.port), sslmode: 'disable' })
  return `postgresql://${auth}@/${encodeURIComponent(server.database)}?${query.toString()}`
}

/**
 * The same connection as a JDBC URL (`jdbc:postgresql://…`, credentials as parameters, as the
 * PostgreSQL JDBC driver reads them); a client key as the PKCS-8 DER copy pgrig writes beside it.
 */
export function jdbcUrl(server: ServerInfo): string {
  const host = server.host.includes(':') ? `[${server.host}]` : server.host
  const query = new URLSearchParams({ user: server.user, password: server.password })
  const tls = server.tls
  if (!tls) query.set('sslmode', 'disable')
  else {
    query.set('sslmode', tls.sslmode)
    if (tls.caFile) query.set('sslrootcert', tls.caFile)
    if ((server.clientCert !== 'off' || server.auth === 'cert') && tls.certFile && tls.keyFile) {
      query.set('sslcert', tls.certFile)
      query.set('sslkey', derKeyFile(tls.keyFile))
    }
  }
  return `jdbc:postgresql://${host}:${server.port}/${encodeURIComponent(server.database)}?${query.toString()}`
}

/**
 * The variables `pgrig run` exports: libpq's own (`PGHOST`…) and `DATABASE_URL` for the first
 * server, and `PGRIG_<NAME>_URL`, `PGRIG_<NAME>_HOST`… for every server, with
 * `PGRIG_<NAME>_SUPERUSER_URL`, `_SOCKET_DIR`, `_SOCKET_URL` and `_JDBC_URL` for the servers
 * pgrig runs (so tools can create databases, and Java or a socket client connects as given).
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
    if (server.engine === 'external') continue
    env[`${prefix}SUPERUSER_URL`] = server.superuser.url
    env[`${prefix}JDBC_URL`] = jdbcUrl(server)
    if (server.socketDir) {
      env[`${prefix}SOCKET_DIR`] = server.socketDir
      env[`${prefix}SOCKET_URL`] = socketUrl({ ...server, socketDir: server.socketDir })
    }
  }
  return env
}
