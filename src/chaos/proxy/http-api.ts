import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { isPgrigError, PgrigError, type PgrigErrorCode } from '../../errors.js'
import { BodyTooLarge, browserRefusal, isLoopbackHost, listenHttp, readBody } from '../../http-guard.js'
import { joinHostPort, splitHostPort } from './address.js'
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
  constructor(
    private readonly server: http.Server,
    private readonly options: { allowRemoteListen: boolean } = { allowRemoteListen: false },
  ) {}

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
    const parts = path.split('?')[0]!.split('/').filter(Boolean).map(decodeSegment)
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
        POST: async () => ({ status: 201, body: (await this.create(object(json(body)))).toJSON() }),
      })
    }
    const proxy = () => this.proxies.get(name!) ?? raise(notFound('proxy'))
    if (parts.length === 2) {
      return route({
        GET: () => ({ status: 200, body: proxy().toJSON() }),
        POST: async () => {
          const p = proxy()
          await p.update(this.pick(proxyFields(object(json(body)))))
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
        POST: () => ({
          status: 200,
          body: proxy().addToxic(toxicFields(json(body)) as unknown as ToxicSpec),
        }),
      })
    }
    const toxic = () => proxy().getToxic(toxicName!) ?? raise(notFound('toxic'))
    return route({
      GET: () => ({ status: 200, body: toxic() }),
      POST: () => {
        const input = toxicFields(json(body)) as { attributes?: Record<string, unknown>; toxicity?: number }
        return { status: 200, body: proxy().updateToxic(toxic().name, input) }
      },
      DELETE: () => {
        proxy().removeToxic(toxic().name)
        return { status: 204 }
      },
    })
  }

  private async create(input: Record<string, unknown>, enabledDefault = true): Promise<ChaosProxy> {
    const spec = proxyFields(input)
    if (typeof spec.name !== 'string' || !spec.name)
      throw new PgrigError('E_CHAOS_INVALID', 'missing required field: name')
    if (typeof spec.upstream !== 'string' || !spec.upstream) {
      throw new PgrigError('E_CHAOS_INVALID', 'missing required field: upstream')
    }
    if (this.proxies.has(spec.name)) throw new PgrigError('E_CHAOS_EXISTS', 'proxy already exists')
    // pgrig's own field: a terminating proxy reads PostgreSQL inside TLS, so it follows the protocol
    const terminate = spec.tls !== undefined && spec.tls !== null && spec.tls !== 'passthrough'
    const listen = typeof spec.listen === 'string' && spec.listen ? spec.listen : '127.0.0.1:0'
    this.assertListenAllowed(listen)
    const proxy = await createProxy({
      name: spec.name,
      upstream: spec.upstream,
      listen,
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
      for (const entry of input as unknown[]) {
        const spec = proxyFields(object(entry))
        const existing = typeof spec.name === 'string' ? this.proxies.get(spec.name) : undefined
        if (existing && typeof spec.upstream === 'string') {
          await existing.update(this.pick(spec))
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

  /**
   * A proxy is a listener in front of its upstream: beyond loopback it would open a loopback-only
   * server to other machines, so that needs the operator's word (`--allow-remote-listen`).
   */
  private assertListenAllowed(listen: string): void {
    if (this.options.allowRemoteListen) return
    const address = splitHostPort(listen)
    // not host:port at all: createProxy says so (400)
    if (!address || isLoopbackHost(address.host)) return
    throw new PgrigError(
      'E_UNSAFE_TARGET',
      `listen ${listen} is beyond loopback: the proxy would let other machines reach its upstream, and this API was not started to allow that; listen on 127.0.0.1 (or localhost, ::1), or start pgrig chaos serve with --allow-remote-listen`,
    )
  }

  private pick(input: { listen?: unknown; upstream?: unknown; enabled?: unknown }) {
    if (typeof input.listen === 'string' && input.listen) this.assertListenAllowed(input.listen)
    return {
      ...(typeof input.listen === 'string' && input.listen ? { listen: input.listen } : {}),
      ...(typeof input.upstream === 'string' && input.upstream ? { upstream: input.upstream } : {}),
      ...(typeof input.enabled === 'boolean' ? { enabled: input.enabled } : {}),
    }
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

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    throw new PgrigError(
      'E_CHAOS_INVALID',
      `bad path: ${JSON.stringify(segment.slice(0, 60))} is not valid percent-encoding; encode names as UTF-8 (encodeURIComponent)`,
    )
  }
}

function object(input: unknown): Record<string, unknown> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new PgrigError('E_CHAOS_INVALID', 'bad request body: expected a JSON object')
  }
  return input as Record<string, unknown>
}

type FieldType = 'string' | 'boolean' | 'number' | 'object'

/** The body's known fields, each of its JSON type (null counts as absent), or a 400 naming the field. */
function typed(input: Record<string, unknown>, fields: Record<string, FieldType>): Record<string, unknown> {
  for (const [field, type] of Object.entries(fields)) {
    const value = input[field]
    if (value === undefined || value === null) continue
    const ok =
      type === 'object'
        ? typeof value === 'object' && !Array.isArray(value)
        : type === 'number'
          ? typeof value === 'number' && Number.isFinite(value)
          : typeof value === type
    if (!ok) {
      const want = {
        string: 'a string',
        boolean: 'true or false',
        number: 'a number',
        object: 'a JSON object',
      }
      throw new PgrigError(
        'E_CHAOS_INVALID',
        `bad request body: ${field} must be ${want[type]}, not ${JSON.stringify(value)?.slice(0, 60)}`,
      )
    }
  }
  return input
}

const proxyFields = (input: Record<string, unknown>) =>
  typed(input, { name: 'string', listen: 'string', upstream: 'string', enabled: 'boolean' }) as {
    name?: unknown
    listen?: unknown
    upstream?: unknown
    enabled?: unknown
    tls?: unknown
  }

const toxicFields = (input: unknown) =>
  typed(object(input), {
    name: 'string',
    type: 'string',
    stream: 'string',
    toxicity: 'number',
    attributes: 'object',
  })

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
  E_PORT_IN_USE: 409,
  E_UNSAFE_TARGET: 403,
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
  options: {
    host?: string
    port?: number
    /** Proxies may listen beyond loopback (`pgrig chaos serve --allow-remote-listen`). */
    allowRemoteListen?: boolean
    /** Host names besides its address that may reach the API (`--allow-host`). */
    allowedHosts?: readonly string[]
  } = {},
): Promise<ToxiproxyApi> {
  const host = options.host ?? '127.0.0.1'
  const port = options.port ?? 8474
  const server = http.createServer((request, response) => {
    const reply = (status: number, body?: unknown, text?: string) => {
      if (response.writableEnded || response.destroyed) return
      if (body !== undefined) {
        response.writeHead(status, { 'Content-Type': 'application/json' })
        response.end(JSON.stringify(body) + '\n')
      } else if (text !== undefined) {
        response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' })
        response.end(text)
      } else {
        response.writeHead(status).end()
      }
    }
    const refusal = browserRefusal(request, { allowedHosts: options.allowedHosts })
    if (refusal !== undefined) return reply(403, { error: refusal, status: 403 })
    readBody(request, MAX_BODY_BYTES)
      .then((body) => api.handle(request.method ?? 'GET', request.url ?? '/', body.toString('utf8')))
      .catch((error: unknown): Reply => {
        if (error instanceof BodyTooLarge) {
          const message = `request body larger than ${MAX_BODY_BYTES} bytes; send proxies and toxics in smaller requests`
          return { status: 413, body: { error: message, status: 413 } }
        }
        const { status, message } = errorReply(error)
        return { status, body: { error: message, status } }
      })
      .then((r) => reply(r.status, r.body, r.text))
  })
  const api = new ToxiproxyApi(server, { allowRemoteListen: options.allowRemoteListen === true })
  await listenHttp(
    server,
    host,
    port,
    'another toxiproxy or pgrig chaos serve? pass --port 0 or another port',
  )
  return api
}
