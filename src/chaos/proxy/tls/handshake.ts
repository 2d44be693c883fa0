import net from 'node:net'
import tls from 'node:tls'
import { joinHostPort } from '../address.js'
import {
  code,
  encode,
  GSSENC_REQUEST,
  pgError,
  SSL_REQUEST,
  TLS_HANDSHAKE_RECORD,
} from '../../../pg-wire/index.js'
import type { Termination } from './options.js'
import { readUntil } from '../read-until.js'

/** Both ends of a connection, ready for a Link: TLS sockets where TLS was agreed, and the TCP under them. */
export interface Opened {
  client: net.Socket
  server: net.Socket
  /** The TCP sockets (a reset has to go to these: a TLS socket cannot send RST). */
  tcp: [net.Socket, net.Socket]
}

const ALPN = ['postgresql']
const S = code('S')
const N = code('N')

const noop = () => undefined

/**
 * The client's side up to TLS: answers SSLRequest / GSSENCRequest itself. True when the client's
 * TLS handshake is next, false when it stays plain (what it sent is put back for the Link).
 */
async function clientWantsTls(client: net.Socket): Promise<boolean> {
  for (;;) {
    const head = await readUntil(client, (b) => b[0] === TLS_HANDSHAKE_RECORD || b.length >= 8)
    if (head[0] === TLS_HANDSHAKE_RECORD) {
      // a ClientHello straight away (PostgreSQL 17+ sslnegotiation=direct)
      client.unshift(head)
      return true
    }
    const length = head.readUInt32BE(0)
    const code = head.readUInt32BE(4)
    if (length === 8 && code === GSSENC_REQUEST) {
      client.write('N')
      if (head.length > 8) client.unshift(head.subarray(8))
      continue
    }
    if (length === 8 && code === SSL_REQUEST) {
      // bytes sent before our answer would be plaintext injected ahead of the handshake (CVE-2021-23214)
      if (head.length > 8) throw new Error('the client sent data after SSLRequest before the answer')
      client.write('S')
      return true
    }
    client.unshift(head)
    return false
  }
}

async function accept(client: net.Socket, termination: Termination): Promise<tls.TLSSocket> {
  const secure = new tls.TLSSocket(client, {
    isServer: true,
    secureContext: termination.context,
    ALPNProtocols: ALPN,
  })
  secure.on('error', noop)
  await settled(
    secure,
    'secure',
    (error) => new Error(`the client's TLS handshake failed: ${error?.message ?? 'closed'}`),
  )
  return secure
}

/** Resolves on `event`; an error or close first rejects with `fail(error)`. */
function settled(
  socket: net.Socket,
  event: string,
  fail: (error: Error | undefined) => Error,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const ok = () => {
      off()
      resolve()
    }
    const bad = (error?: unknown) => {
      off()
      reject(fail(error instanceof Error ? error : undefined))
    }
    const off = () => {
      socket.off(event, ok)
      socket.off('error', bad)
      socket.off('close', bad)
    }
    socket.once(event, ok)
    socket.once('error', bad)
    socket.once('close', bad)
  })
}

/** The server's side: SSLRequest, then TLS verified as `sslmode` says. */
async function serverSide(
  target: { host: string; port: number },
  upstream: Termination['upstream'],
  wantTls: boolean,
  opened: (socket: net.Socket) => void,
): Promise<{ socket: net.Socket; raw: net.Socket }> {
  const raw = net.connect({ host: target.host, port: target.port, allowHalfOpen: true })
  raw.on('error', noop)
  opened(raw)
  try {
    return await upgrade(raw, target, upstream, wantTls)
  } catch (error) {
    raw.destroy()
    throw error
  }
}

async function upgrade(
  raw: net.Socket,
  target: { host: string; port: number },
  upstream: Termination['upstream'],
  wantTls: boolean,
): Promise<{ socket: net.Socket; raw: net.Socket }> {
  const where = joinHostPort(target.host, target.port)
  await settled(
    raw,
    'connect',
    (error) => new Error(`cannot reach the server at ${where}: ${error?.message ?? 'closed'}`),
  )
  if (!wantTls || upstream.sslmode === 'disable') return { socket: raw, raw }
  raw.write(encode.request(SSL_REQUEST))
  const answer = await readUntil(raw, (b) => b.length >= 1)
  if (answer[0] === N && upstream.sslmode === 'prefer') return { socket: raw, raw }
  if (answer[0] !== S || answer.length > 1) {
    const why =
      answer[0] === N
        ? 'does not accept TLS (it answered N to SSLRequest)'
        : 'did not answer SSLRequest as a PostgreSQL server does'
    throw new Error(
      `the server at ${where} ${why}; create the proxy with tls: { upstream: { sslmode: 'prefer' } } to go on in plain TCP`,
    )
  }
  const verify = upstream.sslmode === 'verify-ca' || upstream.sslmode === 'verify-full'
  const secure = tls.connect({
    socket: raw,
    host: target.host,
    // RFC 6066: no IP addresses in SNI; the certificate is still checked against the IP
    ...(net.isIP(target.host) ? {} : { servername: target.host }),
    ALPNProtocols: ALPN,
    rejectUnauthorized: verify,
    ...(upstream.sslmode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}),
    ...(upstream.ca ? { ca: upstream.ca } : {}),
    ...(upstream.cert && upstream.key ? { cert: upstream.cert, key: upstream.key } : {}),
  })
  secure.on('error', noop)
  await settled(
    secure,
    'secureConnect',
    (error) => new Error(`TLS to the server at ${where} failed: ${error?.message ?? 'closed'}`),
  )
  return { socket: secure, raw }
}

/**
 * Terminates a client's TLS: answers its SSLRequest (or direct ClientHello) with the proxy's
 * certificate, opens the server's side with TLS of its own, and hands back both decrypted ends.
 * A plain client gets a plain server connection. When the server's side fails after the client's
 * TLS is up, the client gets a FATAL error saying why (SQLSTATE 08001) and undefined comes back.
 */
export async function openTerminated(
  client: net.Socket,
  termination: Termination,
  target: { host: string; port: number },
  proxyName: string,
  opened: (socket: net.Socket) => void,
): Promise<Opened | undefined> {
  client.on('error', noop)
  if (!(await clientWantsTls(client))) {
    const { socket } = await serverSide(target, termination.upstream, false, opened)
    return { client, server: socket, tcp: [client, socket] }
  }
  // both handshakes at once: a TLS connection through the proxy costs one handshake's wait, not two
  const [secureClient, server] = await Promise.allSettled([
    accept(client, termination),
    serverSide(target, termination.upstream, true, opened),
  ])
  if (secureClient.status === 'rejected') {
    if (server.status === 'fulfilled') server.value.socket.destroy()
    throw secureClient.reason
  }
  if (server.status === 'rejected') {
    const message = `pgrig proxy ${proxyName}: ${(server.reason as Error).message}`
    secureClient.value.end(encode.error(pgError('08001', message, 'FATAL')))
    setTimeout(() => secureClient.value.destroy(), 1000).unref()
    return undefined
  }
  return { client: secureClient.value, server: server.value.socket, tcp: [client, server.value.raw] }
}
