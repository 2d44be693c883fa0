import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import tls from 'node:tls'
import { PgrigError } from '../../../errors.js'

/** PEM text, or the path of a PEM file. */
export type Pem = string | Buffer

/** libpq's sslmode names, for the proxy's own connection to the server. */
export type UpstreamSslmode = 'disable' | 'prefer' | 'require' | 'verify-ca' | 'verify-full'

export interface TerminateTlsOptions {
  /**
   * The certificate the proxy shows clients, and its key. Default: the upstream pgrig server's
   * own certificate (the upstream is a pgrig TLS server: a `StartedServer`, or its URL with
   * `sslrootcert`), so clients that verify it against the pgrig CA work unchanged.
   */
  cert?: Pem
  key?: Pem
  /** How the proxy reaches the server. */
  upstream?: {
    /**
     * Default: the upstream URL's `sslmode`, else `verify-full` when a CA is known, else
     * `require`. With `require` and up, a server that answers N to SSLRequest gets every TLS
     * client refused with a FATAL error; `prefer` goes on in plain TCP, `disable` never asks.
     */
    sslmode?: UpstreamSslmode
    /** CA to verify the server with. Default: the upstream's CA (`sslrootcert`). */
    ca?: Pem
    /**
     * A client certificate for the proxy's leg: the proxy cannot pass on a client's own
     * certificate, so every connection through it authenticates with this one. Default: the
     * upstream URL's `sslcert` / `sslkey`.
     */
    cert?: Pem
    key?: Pem
  }
  /**
   * Milliseconds a connection may take to finish both TLS handshakes before the proxy drops it
   * (a stalled client must not hold sockets for ever). Default 60000, PostgreSQL's own
   * `authentication_timeout`.
   */
  handshakeTimeout?: number
}

/**
 * `passthrough` (the default): TLS goes through unread; network toxics act, statement faults
 * cannot. `terminate` (or an options object): the proxy ends the client's TLS and opens its own
 * to the server, so it reads the traffic and statement faults act too.
 */
export type ProxyTls = 'passthrough' | 'terminate' | TerminateTlsOptions

/** What a terminating proxy needs, checked and loaded once when the proxy is created. */
export interface Termination {
  /** Offered to clients (the proxy's TLS server side). */
  context: tls.SecureContext
  handshakeTimeout: number
  upstream: {
    sslmode: UpstreamSslmode
    ca?: Buffer
    cert?: Buffer
    key?: Buffer
  }
}

/** What the proxy knows of its upstream that can carry TLS material. */
export interface TlsUpstream {
  url?: string
  tls?: { caFile: string | null } | null
}

const SSLMODES: readonly UpstreamSslmode[] = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full']

const isPemText = (value: Pem) => typeof value !== 'string' || value.includes('-----BEGIN')

function describe(value: Pem): string {
  return isPemText(value) ? '(PEM text)' : (value as string)
}

function load(proxy: string, field: string, value: Pem): Buffer {
  if (typeof value !== 'string') return value
  if (isPemText(value)) return Buffer.from(value)
  try {
    return fs.readFileSync(value)
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code ?? (error as Error).message
    throw new PgrigError(
      'E_TLS_CONFIG',
      `proxy ${proxy}: tls ${field} ${value} cannot be read (${why}); pass the path of a PEM file or PEM text`,
    )
  }
}

function certificate(proxy: string, field: string, value: Pem): { pem: Buffer; x509: X509Certificate } {
  const pem = load(proxy, field, value)
  try {
    return { pem, x509: new X509Certificate(pem) }
  } catch {
    throw new PgrigError(
      'E_TLS_CONFIG',
      `proxy ${proxy}: tls ${field} ${describe(value)} is not a PEM certificate; pass a file that starts with -----BEGIN CERTIFICATE-----`,
    )
  }
}

function privateKey(proxy: string, field: string, value: Pem): { pem: Buffer; key: KeyObject } {
  const pem = load(proxy, field, value)
  try {
    return { pem, key: createPrivateKey(pem) }
  } catch {
    throw new PgrigError(
      'E_TLS_CONFIG',
      `proxy ${proxy}: tls ${field} ${describe(value)} is not an unencrypted PEM private key; pass the key the certificate was issued for`,
    )
  }
}

/** A certificate and its key, checked to belong together. */
function pair(proxy: string, prefix: string, cert: Pem, key: Pem): { cert: Buffer; key: Buffer } {
  const c = certificate(proxy, `${prefix}cert`, cert)
  const k = privateKey(proxy, `${prefix}key`, key)
  if (!c.x509.checkPrivateKey(k.key)) {
    throw new PgrigError(
      'E_TLS_CONFIG',
      `proxy ${proxy}: tls ${prefix}key ${describe(key)} does not belong to ${prefix}cert ${describe(cert)}; pass the key the certificate was issued for`,
    )
  }
  return { cert: c.pem, key: k.pem }
}

/** The server certificate pgrig issued next to its CA (see servers/certs.ts), if it is there and valid. */
function pgrigServerCertificate(caFile: string): { cert: string; key: string } | undefined {
  const dir = path.dirname(caFile)
  const cert = path.join(dir, 'server.crt')
  const key = path.join(dir, 'server.key')
  try {
    const ca = new X509Certificate(fs.readFileSync(caFile))
    const server = new X509Certificate(fs.readFileSync(cert))
    const ok = server.checkIssued(ca) && server.checkPrivateKey(createPrivateKey(fs.readFileSync(key)))
    return ok ? { cert, key } : undefined
  } catch {
    return undefined
  }
}

function urlParams(url: string | undefined): URLSearchParams {
  if (!url) return new URLSearchParams()
  try {
    return new URL(url).searchParams
  } catch {
    return new URLSearchParams()
  }
}

/** Checks and loads the terminate-mode options; undefined for passthrough. */
export function resolveTermination(
  proxy: string,
  option: ProxyTls | undefined,
  upstream: TlsUpstream,
): Termination | undefined {
  if (option === undefined || option === 'passthrough') return undefined
  if (option !== 'terminate' && (typeof option !== 'object' || option === null)) {
    throw new PgrigError(
      'E_TLS_CONFIG',
      `proxy ${proxy}: tls ${JSON.stringify(option)} is not 'passthrough', 'terminate' or { cert, key, upstream }`,
    )
  }
  const options: TerminateTlsOptions = option === 'terminate' ? {} : option
  const params = urlParams(upstream.url)
  const caFile = upstream.tls?.caFile ?? params.get('sslrootcert') ?? undefined

  let identity: { cert: Pem; key: Pem } | undefined
  if (options.cert !== undefined || options.key !== undefined) {
    if (options.cert === undefined || options.key === undefined) {
      throw new PgrigError('E_TLS_CONFIG', `proxy ${proxy}: tls needs both cert and key, or neither`)
    }
    identity = { cert: options.cert, key: options.key }
  } else {
    identity = caFile ? pgrigServerCertificate(caFile) : undefined
    if (!identity) {
      throw new PgrigError(
        'E_TLS_CONFIG',
        `proxy ${proxy}: tls 'terminate' needs a certificate to show clients and the upstream is not a pgrig TLS server; pass tls: { cert, key }`,
      )
    }
  }
  const served = pair(proxy, '', identity.cert, identity.key)
  let context: tls.SecureContext
  try {
    context = tls.createSecureContext({ cert: served.cert, key: served.key })
  } catch (error) {
    throw new PgrigError(
      'E_TLS_CONFIG',
      `proxy ${proxy}: tls cert/key cannot be used (${(error as Error).message})`,
    )
  }

  const up = options.upstream ?? {}
  const caSource = up.ca ?? caFile
  const ca = caSource === undefined ? undefined : certificate(proxy, 'upstream.ca', caSource).pem
  const clientCert = up.cert ?? (up.key === undefined ? (params.get('sslcert') ?? undefined) : undefined)
  const clientKey = up.key ?? (up.cert === undefined ? (params.get('sslkey') ?? undefined) : undefined)
  if ((clientCert === undefined) !== (clientKey === undefined)) {
    throw new PgrigError('E_TLS_CONFIG', `proxy ${proxy}: tls upstream needs both cert and key, or neither`)
  }
  const client =
    clientCert !== undefined && clientKey !== undefined
      ? pair(proxy, 'upstream.', clientCert, clientKey)
      : undefined
  const urlMode = params.get('sslmode')
  const sslmode =
    up.sslmode ??
    (urlMode === 'allow' ? 'prefer' : (urlMode as UpstreamSslmode | null)) ??
    (ca ? 'verify-full' : 'require')
  if (!SSLMODES.includes(sslmode)) {
    throw new PgrigError(
      'E_TLS_CONFIG',
      `proxy ${proxy}: tls upstream.sslmode ${JSON.stringify(sslmode)} is not one of ${SSLMODES.join(', ')}`,
    )
  }
  const handshakeTimeout = options.handshakeTimeout ?? 60_000
  if (!(Number.isFinite(handshakeTimeout) && handshakeTimeout > 0)) {
    throw new PgrigError(
      'E_TLS_CONFIG',
      `proxy ${proxy}: tls handshakeTimeout ${String(options.handshakeTimeout)} is not a positive number of milliseconds`,
    )
  }
  return {
    context,
    handshakeTimeout,
    upstream: { sslmode, ...(ca ? { ca } : {}), ...(client ?? {}) },
  }
}
