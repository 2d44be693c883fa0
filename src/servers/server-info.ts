/** TLS of a server pgrig runs: its own CA, and a client certificate signed by it. */
export interface ServerTls {
  /** `on`: TLS offered, plain accepted too; `required`: only TLS. */
  mode: 'on' | 'required'
  /** What `url` and `PGSSLMODE` ask of a client. */
  sslmode: 'verify-full'
  caFile: string
  certFile: string
  keyFile: string
}

/** TLS of an external server, as its URL connects: the files the URL names (null for those it does not). */
export interface ExternalTls {
  mode: 'on' | 'required'
  /** The URL's sslmode (`require` when the URL asks for TLS another way). */
  sslmode: string
  caFile: string | null
  certFile: string | null
  keyFile: string | null
}

/** The documented shape of one server in `pgrig up --json` and the run's state file. */
export interface ServerInfo {
  name: string
  version: string
  host: string
  port: number
  user: string
  password: string
  database: string
  url: string
  superuser: { user: string; password: string; url: string }
  /** null when connections to it do not use TLS. */
  tls: null | ServerTls | ExternalTls
  /** null for an external server, which pgrig does not run. */
  pid: number | null
  dataDir: string | null
  logFile: string | null
  engine: 'embedded' | 'system' | 'external'
  /** Folder of the server's unix socket (superuser trust over it); null for an external server. */
  socketDir: string | null
  /** The profile's client-certificate and auth settings, for status output. */
  clientCert: 'off' | 'verify-ca' | 'verify-full'
  auth: string
}

export function buildUrl(parts: {
  user: string
  password: string
  host: string
  port: number
  database: string
  params?: Record<string, string>
}): string {
  const host = parts.host.includes(':') ? `[${parts.host}]` : parts.host
  // `postgresql://`: every driver reads it (SQLAlchemy and JDBC-style parsers refuse `postgres://`).
  const url = new URL(`postgresql://${host}:${parts.port}/`)
  // The URL setters leave `%` (and a few others) as they are: clients would decode `ab%41` as `abA`.
  url.username = encodeURIComponent(parts.user)
  url.password = encodeURIComponent(parts.password)
  url.pathname = `/${encodeURIComponent(parts.database)}`
  for (const [key, value] of Object.entries(parts.params ?? {})) url.searchParams.set(key, value)
  return url.toString()
}

/** Hides the password of a libpq URL, for anything printed where it could be logged. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return url.replace(/:\/\/([^:@/]+):[^@/]*@/, '://$1:***@')
  }
}
