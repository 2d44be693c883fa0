import net from 'node:net'
import type { ServerSpec } from '../config/resolve.js'
import { PgrigError } from '../errors.js'
import { encode, T } from '../pg-wire/index.js'
import { redactUrl, type ExternalTls } from './server-info.js'

/**
 * Does the server take this user over a plain connection? Asked with a bare startup message and
 * answered by the server's first reply, so no password ever leaves without TLS: an
 * authentication request (`R`) means pg_hba lets plain connections in, an error means it does not.
 */
function acceptsPlain(url: URL, timeoutMs: number): Promise<boolean> {
  const user = decodeURIComponent(url.username)
  const database = decodeURIComponent(url.pathname.slice(1)) || user
  return new Promise((resolve) => {
    const socket = net.connect({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 5432) })
    const answer = (plain: boolean) => {
      socket.destroy()
      resolve(plain)
    }
    socket.setTimeout(timeoutMs, () => answer(false))
    socket.on('error', () => answer(false))
    socket.on('connect', () => socket.write(encode.startup({ user, database })))
    socket.once('data', (reply: Buffer) => answer(reply[0] === T.authentication))
  })
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
