import type http from 'node:http'
import type { AddressInfo } from 'node:net'
import { PgrigError } from './errors.js'

/**
 * What both of pgrig's HTTP APIs (`pgrig serve`, IntegreSQL's; `pgrig chaos serve`, Toxiproxy's)
 * refuse before routing: whatever a web page open in a browser on this machine could send them.
 * Neither API has authentication (their protocols have none), so a page must not be able to drive
 * one, by a form post, a `no-cors` fetch, or DNS rebinding (a name of the page's that now points
 * at 127.0.0.1). The CLI's own flags stay in the operator's hands; this module guards requests.
 */

/** Loopback by literal or by name: `localhost`, 127.0.0.0/8, `::1` (brackets and a final dot allowed). */
export function isLoopbackHost(host: string): boolean {
  const name = host
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase()
  return (
    name === 'localhost' ||
    name === '::1' ||
    /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name) ||
    /^(0{1,4}:){7}0{0,3}1$/.test(name)
  )
}

/** An address as the WHATWG URL parser writes it (IPv6 compressed, IPv4 dotted), without brackets. */
function canonicalHost(host: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host)
  if (mapped) return mapped[1]!
  try {
    return new URL(`http://${host.includes(':') ? `[${host}]` : host}`).hostname.replace(/^\[|\]$/g, '')
  } catch {
    return host.toLowerCase()
  }
}

/**
 * Whether `authority` (a Host header, or an Origin's host:port) names the address this connection
 * came in on: its IP with its port, or a loopback name with its port. Any other name is refused:
 * DNS rebinding needs one.
 */
function namesThisServer(
  authority: string,
  socket: http.IncomingMessage['socket'],
  allowedHosts: readonly string[],
): boolean {
  let url: URL
  try {
    url = new URL(`http://${authority}`)
  } catch {
    return false
  }
  if (url.username || url.password || url.pathname !== '/' || url.search || url.hash) return false
  if (Number(url.port || 80) !== socket.localPort) return false
  const host = url.hostname.replace(/^\[|\]$/g, '')
  if (isLoopbackHost(host) || allowedHosts.includes(host)) return true
  return socket.localAddress !== undefined && canonicalHost(host) === canonicalHost(socket.localAddress)
}

export interface GuardOptions {
  /**
   * Host names besides the address itself that reach this API (`--allow-host`): a compose service's
   * or a fleet's DNS name, named by the operator since a rebinding page's name must stay refused.
   */
  allowedHosts?: readonly string[] | undefined
}

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/**
 * The labels a JSON body may carry: its own, and those well-behaved clients put on JSON without
 * being asked: `text/plain;charset=UTF-8` (Node's and the browsers' fetch of a string, older
 * Toxiproxy Go clients), `application/x-www-form-urlencoded` (`curl -d`). A browser sending them
 * was refused by its user agent, Origin or Sec-Fetch-Site before this check; what is left
 * (multipart/form-data, XML, …) is not JSON whoever sends it.
 */
const JSON_LABELS = new Set(['application/json', 'text/plain', 'application/x-www-form-urlencoded'])

function hasBody(request: http.IncomingMessage): boolean {
  const length = request.headers['content-length']
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}

/**
 * Why this request is refused (the one line a 403 carries), or undefined when it may go on:
 * a browser's user agent (`Mozilla/…`, as Toxiproxy refuses), an `Origin` or a cross-site
 * `Sec-Fetch-Site` (a web page's request), a `Host` that is not the address the connection came
 * in on (DNS rebinding), or a write whose body is labelled as something JSON never is.
 */
export function browserRefusal(
  request: http.IncomingMessage,
  options: GuardOptions = {},
): string | undefined {
  const allowed = (options.allowedHosts ?? []).map((name) => name.toLowerCase().replace(/\.$/, ''))
  const agent = request.headers['user-agent'] ?? ''
  if (agent.startsWith('Mozilla/')) {
    return `refused: the user agent ${JSON.stringify(agent.slice(0, 40))} is a browser's, and this API takes no requests from web pages (as Toxiproxy); call it from curl or a client library`
  }
  const own = `http://${request.headers.host ?? ''}`
  const origin = request.headers.origin
  if (
    origin !== undefined &&
    !(origin === own && namesThisServer(origin.slice(7), request.socket, allowed))
  ) {
    return `refused: the request comes from the web page ${JSON.stringify(origin.slice(0, 80))} (Origin header), not from this API's own origin; web pages may not drive it`
  }
  const site = request.headers['sec-fetch-site']
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    return `refused: a ${site} browser request (Sec-Fetch-Site); web pages may not drive this API`
  }
  const host = request.headers.host
  if (host !== undefined && !namesThisServer(host, request.socket, allowed)) {
    const { localAddress, localPort } = request.socket
    const here = localAddress
      ? `${localAddress.includes(':') ? `[${localAddress}]` : localAddress}:${localPort}`
      : ''
    return `refused: Host ${JSON.stringify(host.slice(0, 80))} is not the address this API listens on (${here}), as a page reached by DNS rebinding sends; connect by that address or by localhost / 127.0.0.1 with the port, or start the API with --allow-host <name>`
  }
  const type = request.headers['content-type']
  if (type !== undefined && WRITES.has(request.method ?? '') && hasBody(request)) {
    const media = type.split(';')[0]!.trim().toLowerCase()
    if (!JSON_LABELS.has(media) && !media.endsWith('+json')) {
      return `refused: a ${request.method} body of Content-Type ${JSON.stringify(type.slice(0, 60))}: this API takes JSON only; send Content-Type: application/json`
    }
  }
  return undefined
}

export class BodyTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`request body larger than ${limit} bytes`)
  }
}

/**
 * The request's body, up to `limit` bytes. A longer one (by its Content-Length, or as it streams)
 * rejects with BodyTooLarge at once; the rest is read and thrown away, so a client still sending
 * gets the 413 instead of a reset connection, and nothing past the limit stays in memory.
 */
export function readBody(request: http.IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers['content-length'] ?? 0)
    const chunks: Buffer[] = []
    let size = 0
    let refused = declared > limit
    if (refused) reject(new BodyTooLarge(limit))
    request.on('data', (chunk: Buffer) => {
      if (refused) return
      size += chunk.length
      if (size <= limit) chunks.push(chunk)
      else {
        refused = true
        chunks.length = 0
        reject(new BodyTooLarge(limit))
      }
    })
    request.on('end', () => resolve(Buffer.concat(chunks)))
    request.on('error', reject)
  })
}

/**
 * `server.listen(port, host)`, with what goes wrong as one line: the port taken (`inUse` says what
 * to do), or a host that is not an address of this machine.
 */
export function listenHttp(
  server: http.Server,
  host: string,
  port: number,
  inUse: string,
): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      const shown = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
      if (error.code === 'EADDRINUSE') {
        reject(
          new PgrigError('E_PORT_IN_USE', `the API cannot listen on ${shown}: the port is taken; ${inUse}`),
        )
      } else if (
        ['EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN', 'EAFNOSUPPORT', 'EINVAL'].includes(error.code ?? '')
      ) {
        reject(
          new PgrigError(
            'E_USAGE',
            `--host ${host} is not an address of this machine (${error.code}), so the API cannot listen there; use 127.0.0.1 (the default) or one of this machine's addresses`,
          ),
        )
      } else if (error.code === 'EACCES') {
        reject(
          new PgrigError(
            'E_USAGE',
            `${shown}: this user may not listen there (EACCES; ports below 1024 need privileges); pass a port above 1023, or 0 for a free one`,
          ),
        )
      } else reject(error)
    }
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      resolve(server.address() as AddressInfo)
    })
  })
}
