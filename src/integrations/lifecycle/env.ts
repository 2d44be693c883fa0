import { hostOf, parseLibpqUrl } from '../../servers/libpq-url.js'

/** The variables the code under test reads to find its database (libpq's, and DATABASE_URL). */
export const DATABASE_ENV = [
  'DATABASE_URL',
  'PGHOST',
  'PGPORT',
  'PGUSER',
  'PGPASSWORD',
  'PGDATABASE',
  'PGSSLMODE',
  'PGSSLROOTCERT',
  'PGSSLCERT',
  'PGSSLKEY',
] as const

type DatabaseEnv = Partial<Record<(typeof DATABASE_ENV)[number], string>>

/**
 * `DATABASE_URL` and `PG*` pointing at `url`; the TLS ones only when the URL asks for TLS
 * (absent, they are deleted, so a shell's PGSSLMODE cannot leak into the test).
 */
export function databaseEnv(url: string): DatabaseEnv {
  // libpq allows no host at all (`postgres://app@/db`): localhost, as libpq's TCP default.
  const parsed = parseLibpqUrl(url, { defaultHost: 'localhost' })
  const params = parsed.searchParams
  const env: DatabaseEnv = {
    DATABASE_URL: url,
    // A unix socket rides in ?host=/dir; a bracketed IPv6 host loses its brackets.
    PGHOST: hostOf(parsed),
    PGPORT: params.get('port') ?? (parsed.port || '5432'),
    PGUSER: decodeURIComponent(parsed.username),
    PGPASSWORD: decodeURIComponent(parsed.password),
    PGDATABASE: decodeURIComponent(parsed.pathname.slice(1)),
  }
  const ssl = {
    PGSSLMODE: 'sslmode',
    PGSSLROOTCERT: 'sslrootcert',
    PGSSLCERT: 'sslcert',
    PGSSLKEY: 'sslkey',
  } as const
  for (const [key, param] of Object.entries(ssl) as [keyof typeof ssl, string][]) {
    const value = params.get(param)
    if (value !== null) env[key] = value
  }
  return env
}

/**
 * Sets (a string) or unsets (undefined) each variable named in `values`; the returned function
 * puts back exactly what was there before (unset stays unset).
 */
export function replaceEnv(values: Record<string, string | undefined>): () => void {
  const saved = new Map<string, string | undefined>(Object.keys(values).map((key) => [key, process.env[key]]))
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) delete process.env[key]
    else process.env[key] = value
  }
  return () => {
    for (const [key, value] of saved) {
      if (value === undefined) delete process.env[key]
      else process.env[key] = value
    }
  }
}

/** Points `process.env` at `url` for one test; the returned function puts back what was there before. */
export function pointEnvAt(url: string): () => void {
  const env = databaseEnv(url)
  return replaceEnv(Object.fromEntries(DATABASE_ENV.map((key) => [key, env[key]])))
}
