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
  tls: null | { mode: 'on' | 'required'; caFile: string; certFile: string; keyFile: string }
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
  const url = new URL(`postgres://${host}:${parts.port}/`)
  url.username = parts.user
  url.password = parts.password
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
