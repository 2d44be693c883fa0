import pg from 'pg'
import type { ServerSpec } from '../config/resolve.js'
import { PgrigError } from '../errors.js'
import { redactUrl, type ExternalTls } from './server-info.js'

const SSL_PARAMS = ['ssl', 'sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'sslcrl', 'sslnegotiation']

/** Does the server accept this URL's user without TLS? */
async function acceptsPlain(url: URL, timeoutMs: number): Promise<boolean> {
  const plain = new URL(url)
  for (const key of SSL_PARAMS) plain.searchParams.delete(key)
  const client = new pg.Client({
    connectionString: plain.toString(),
    ssl: false,
    connectionTimeoutMillis: timeoutMs,
  })
  client.on('error', () => {})
  try {
    await client.connect()
    return true
  } catch {
    // Refused by pg_hba (hostssl only), or not answering plain at all: either way TLS is what works.
    return false
  } finally {
    await client.end().catch(() => {})
  }
}

/**
 * The TLS of a server pgrig does not run, as its URL connects: whether the connection was
 * encrypted (`encrypted`, asked of the server), the URL's sslmode and files, and whether the
 * server also takes plain connections (`on`) or not (`required`).
 */
export async function externalTls(
  spec: Pick<ServerSpec, 'name' | 'tls' | 'startupTimeout'>,
  url: URL,
  encrypted: boolean,
): Promise<ExternalTls | null> {
  if (!encrypted) {
    if (spec.tls !== 'off') {
      throw new PgrigError(
        'E_EXTERNAL_SERVER',
        `external server ${spec.name} (${redactUrl(url.toString())}): tls ${spec.tls} was asked, but this URL connects without TLS; add ?sslmode=verify-full&sslrootcert=<CA file> (or sslmode=require) to the URL`,
      )
    }
    return null
  }
  const params = url.searchParams
  return {
    mode: (await acceptsPlain(url, spec.startupTimeout)) ? 'on' : 'required',
    // TLS asked another way (ssl=true): encrypted, whatever it verifies.
    sslmode: params.get('sslmode') ?? 'require',
    caFile: params.get('sslrootcert'),
    certFile: params.get('sslcert'),
    keyFile: params.get('sslkey'),
  }
}
