import pg from 'pg'
import type { ServerSpec } from '../config/resolve.js'
import { PgrigError } from '../errors.js'
import { externalTls } from './external-tls.js'
import { redactUrl, type ServerInfo } from './server-info.js'
import { parseLibpqUrl, userOf } from './libpq-url.js'

/**
 * Describes a server pgrig does not run. pgrig only reads the URL and checks that it answers; it
 * never starts, stops or alters such a server.
 */
export async function connectExternal(spec: ServerSpec): Promise<ServerInfo> {
  const raw = spec.url ?? ''
  let url: URL
  try {
    url = parseLibpqUrl(raw)
  } catch {
    throw new PgrigError(
      'E_CONFIG_INVALID',
      `server ${spec.name}: url is not a URL; write postgres://user:password@host:5432/db`,
    )
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new PgrigError(
      'E_CONFIG_INVALID',
      `server ${spec.name}: ${url.protocol.replace(/:$/, '')} URLs are not PostgreSQL; pgrig needs postgres://user:password@host:5432/db`,
    )
  }
  const client = new pg.Client({ connectionString: raw, connectionTimeoutMillis: spec.startupTimeout })
  client.on('error', () => {})
  let version: string
  let encrypted: boolean
  try {
    await client.connect()
    // Asked of the server: the URL may ask for TLS in ways pgrig does not parse (ssl=true, PGSSLMODE).
    const row = (
      await client.query<{ version: string; ssl: boolean }>(
        'select current_setting($1) as version, coalesce((select ssl from pg_stat_ssl where pid = pg_backend_pid()), false) as ssl',
        ['server_version'],
      )
    ).rows[0]!
    version = row.version
    encrypted = row.ssl
  } catch (error) {
    throw new PgrigError(
      'E_EXTERNAL_SERVER',
      `external server ${spec.name} (${redactUrl(raw)}) does not answer: ${(error as Error).message}; check the URL and that the server runs`,
    )
  } finally {
    await client.end().catch(() => {})
  }
  const user = userOf(url)
  const password = decodeURIComponent(url.password)
  const database = decodeURIComponent(url.pathname.slice(1)) || user
  return {
    name: spec.name,
    version: version.split(' ')[0] ?? version,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: Number(url.port || url.searchParams.get('port') || 5432),
    user,
    password,
    database,
    url: raw,
    // pgrig holds no superuser of a server it does not run.
    superuser: { user, password, url: raw },
    tls: await externalTls(spec, url, encrypted),
    pid: null,
    dataDir: null,
    logFile: null,
    engine: 'external',
    socketDir: null,
    clientCert: 'off',
    auth: 'external',
  }
}
