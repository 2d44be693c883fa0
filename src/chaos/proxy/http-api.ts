import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { isPgrigError, PgrigError, type PgrigErrorCode } from '../../errors.js'
import { joinHostPort } from './address.js'
import { ChaosProxy, createProxy } from './proxy.js'
import type { ToxicSpec } from './toxic.js'
import type { ProxyTls } from './tls/options.js'

/** The Toxiproxy API level these routes and JSON shapes follow. */
export const TOXIPROXY_API_VERSION = '2.12.0'

const notFound = (what: 'proxy' | 'toxic') => new PgrigError('E_CHAOS_NOT_FOUND', `${what} not found`)

interface Reply {
  status: number
  body?: unknown
  text?: string
}

/**
 * The Toxiproxy 2.x HTTP API over pgrig proxies (same routes, JSON and status codes), so
 * existing Toxiproxy clients and scripts work unchanged. The `pg_*` toxic types (see
 * pg/fault-toxics.ts) add the PostgreSQL-aware faults on the same routes.
 */
export class ToxiproxyApi implements AsyncDisposable {
  readonly proxies = new Map<string, ChaosProxy>()

  /** @internal use serveToxiproxyApi() */
  constructor(private readonly server: http.Server) {}

  get port(): number {
    return (this.server.address() as AddressInfo).port
  }
  get host(): string {
    return (this.server.address() as AddressInfo).address
  }
  /** `http://host:port`, what Toxiproxy clients take. */
  get url(): string {
    return `http://${joinHostPort(this.host, this.port)}`
  }

  async handle(method: string, path: string, body: string): Promise<Reply> {
    const parts = path.split('?')[0]!.split('/').filter(Boolean).map(decodeURIComponent)
    const [root, name, sub, toxicName] = parts
    const route = (methods: Record<string, () => Promise<Reply> | Reply>): Promise<Reply> | Reply => {
      const handler = methods[method === 'PATCH' ? 'POST' : method]
      return handler ? handler() : { status: 405, text: 'Method Not Allowed\n' }
    }
    if (parts.length === 1 && root === 'version') {
      return route({ GET: () => ({ status: 200, body: { version: TOXIPROXY_API_VERSION } }) })
    }
    if (parts.length === 1 && root === 'reset') return route({ POST: () => this.reset() })
    if (parts.length === 1 && root === 'populate') return route({ POST: () => this.populate(json(body)) })
    if (root !== 'proxies') return { status: 404, text: '404 page not found\n' }
    if (parts.length === 1) {
      return route({
        GET: () => ({
          status: 200,
          body: Object.fromEntries([...this.proxies].map(([k, p]) => [k, p.toJSON()])),
        }),
        POST: async () => ({ status: 201, body: (await this.create(json(body))).toJSON() }),
      })
    }
    const proxy = () => this.proxies.get(name!) ?? raise(notFound('proxy'))
    if (parts.length === 2) {
      return route({
        GET: () => ({ status: 200, body: proxy().toJSON() }),
        POST: async () => {
          const p = proxy()
          const input = json(body) as { listen?: string; upstream?: string; enabled?: boolean }
          await p.update(pick(input))
          return { status: 200, body: p.toJSON() }
        },
        DELETE: async () => {
          await proxy().close()
          this.proxies.delete(name!)
          return { status: 204 }
        },
      })
    }
    if (sub !== 'toxics' || parts.length > 4) return { status: 404, text: '404 page not found\n' }
    if (parts.length === 3) {
      return route({
        GET: () => ({ status: 200, body: proxy().listToxics() }),
        POST: () => ({ status: 200, body: proxy().addToxic(json(body) as ToxicSpec) }),
      })
    }
    const toxic = () => proxy().getToxic(toxicName!) ?? raise(notFound('toxic'))
    return route({
      GET: () => ({ status: 200, body: toxic() }),
      POST: () => {
        const input = json(body) as { attributes?: Record<string, unknown>; toxicity?: number }
        return { status: 200, body: proxy().updateToxic(toxic().name, input) }
      },
      DELETE: () => {
        proxy().removeToxic(toxic().name)
        return { status: 204 }
      },
    })
  }

  private async create(input: unknown, enabledDefault = true): Promise<ChaosProxy> {
    const spec = (input ?? {}) as {
      name?: unknown
      listen?: unknown
      upstream?: unknown
      enabled?: unknown
      tls?: unknown
    }
    if (typeof spec.name !== 'string' || !spec.name)
      throw new PgrigError('E_CHAOS_INVALID', 'missing required field: name')
    if (typeof spec.upstream !== 'string' || !spec.upstream) {
      throw new PgrigError('E_CHAOS_INVALID', 'missing required field: upstream')
    }
    if (this.proxies.has(spec.name)) throw new PgrigError('E_CHAOS_EXISTS', 'proxy already exists')
    // pgrig's own field: a terminating proxy reads PostgreSQL inside TLS, so it follows the protocol
    const terminate = spec.tls !== undefined && spec.tls !== null && spec.tls !== 'passthrough'
    const proxy = await createProxy({
      name: spec.name,
      upstream: spec.upstream,
      listen: typeof spec.listen === 'string' && spec.listen ? spec.listen : '127.0.0.1:0',
      enabled: typeof spec.enabled === 'boolean' ? spec.enabled : enabledDefault,
      // follows PostgreSQL so the pg_* toxics can act; any other protocol is spotted at its
      // first bytes and passed through untouched
      protocol: 'postgres',
      ...(terminate ? { tls: spec.tls as ProxyTls } : {}),
    })
    this.proxies.set(proxy.name, proxy)
    return proxy
  }

  private async populate(input: unknown): Promise<Reply> {
    if (!Array.isArray(input))
      throw new PgrigError('E_CHAOS_INVALID', 'bad request body: expected an array of proxies')
    const done: ChaosProxy[] = []
    try {
      for (const spec of input as { name?: string; listen?: string; upstream?: string }[]) {
        const existing = spec?.name ? this.proxies.get(spec.name) : undefined
        if (existing && typeof spec.upstream === 'string') {
          await existing.update(pick(spec))
          done.push(existing)
        } else {
          done.push(await this.create(spec))
        }
      }
    } catch (error) {
      const { status, message } = errorReply(error)
      return { status, body: { error: message, status, proxies: done.map((p) => p.toJSON()) } }
    }
    return { status: 201, body: { proxies: done.map((p) => p.toJSON()) } }
  }

  private async reset(): Promise<Reply> {
    await Promise.all([...this.proxies.values()].map((p) => p.reset()))
    return { status: 204 }
  }

  async close(): Promise<void> {
    await Promise.all([...this.proxies.values()].map((p) => p.close()))
    this.proxies.clear()
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }
}

function raise(error: Error): never {
  throw error
}

function pick(input: { listen?: unknown; upstream?: unknown; enabled?: unknown }) {
  return {
    ...(typeof input.listen === 'string' && input.listen ? { listen: input.listen } : {}),
    ...(typeof input.upstream === 'string' && input.upstream ? { upstream: input.upstream } : {}),
    ...(typeof input.enabled === 'boolean' ? { enabled: input.enabled } : {}),
  }
}

function json(body: string): unknown {
  if (!body.trim()) return {}
  try {
    return JSON.parse(body)
  } catch (error) {
    throw new PgrigError('E_CHAOS_INVALID', `bad request body: ${(error as Error).message}`)
  }
}

/** Request bodies are small JSON documents; anything past this is refused with 413. */
export const MAX_BODY_BYTES = 1024 * 1024

// A listen address this machine cannot bind: the caller's mistake, not the server's.
const BAD_ADDRESS_CODES = new Set([
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'EACCES',
  'EAFNOSUPPORT',
  'EINVAL',
])

/** The HTTP status of each error code a bad request can carry; any other error is a 500. */
const STATUS_OF: Partial<Record<PgrigErrorCode, number>> = {
  E_CHAOS_INVALID: 400,
  E_USAGE: 400,
  E_TLS_CONFIG: 400,
  E_CHAOS_NOT_FOUND: 404,
  E_CHAOS_EXISTS: 409,
}

function errorReply(error: unknown): { status: number; message: string } {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  if (code && BAD_ADDRESS_CODES.has(code)) {
    const address =
      (error as { hostname?: string; address?: string }).hostname ?? (error as { address?: string }).address
    return {
      status: 400,
      message: `bad listen address${address ? ` ${address}` : ''}: this machine cannot listen there (${code}); use a local address such as 127.0.0.1:0`,
    }
  }
  if (isPgrigError(error)) return { status: STATUS_OF[error.code] ?? 500, message: error.message }
  return { status: 500, message: (error as Error).message }
}

/**
 * Serves the Toxiproxy-compatible API; Toxiproxy's own default is 127.0.0.1:8474 (`port: 0`
 * picks a free port).
 */
export async function serveToxiproxyApi(
  options: { host?: string; port?: number } = {},
): Promise<ToxiproxyApi> {
  const host = options.host ?? '127.0.0.1'
  const port = options.port ?? 8474
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = []
    let size = 0
    let refused = false
    request.on('data', (chunk: Buffer) => {
      if (refused) return
      size += chunk.length
      if (size <= MAX_BODY_BYTES) {
        chunks.push(chunk)
        return
      }
      // Refused as soon as it is too big: a huge body must not sit in memory.
      refused = true
      chunks.length = 0
      const status = 413
      const error = `request body larger than ${MAX_BODY_BYTES} bytes; send proxies and toxics in smaller requests`
      response.writeHead(status, { 'Content-Type': 'application/json', Connection: 'close' })
      response.end(JSON.stringify({ error, status }) + '\n', () => request.destroy())
    })
    request.on('end', () => {
      if (refused) return
      api
        .handle(request.method ?? 'GET', request.url ?? '/', Buffer.concat(chunks).toString('utf8'))
        .catch((error: unknown): Reply => {
          const { status, message } = errorReply(error)
          return { status, body: { error: message, status } }
        })
        .then((reply) => {
          if (reply.body !== undefined) {
            response.writeHead(reply.status, { 'Content-Type': 'application/json' })
            response.end(JSON.stringify(reply.body) + '\n')
          } else if (reply.text !== undefined) {
            response.writeHead(reply.status, { 'Content-Type': 'text/plain; charset=utf-8' })
            response.end(reply.text)
          } else {
            response.writeHead(reply.status).end()
          }
        })
    })
  })
  const api = new ToxiproxyApi(server)
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'EADDRINUSE'
          ? new PgrigError(
              'E_PORT_IN_USE',
              `cannot serve the chaos API on ${joinHostPort(host, port)}: the port is taken (another toxiproxy or pgrig chaos serve?); pass --port 0 or another port`,
            )
          : error,
      ),
    )
    server.listen(port, host, () => resolve())
  })
  return api
}
