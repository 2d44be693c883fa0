import net from 'node:net'
import { PgrigError } from '../../errors.js'
import { Acceptor } from './accept.js'
import { joinHostPort, proxiedUrl, splitHostPort } from './address.js'
import { resolveTermination, type ProxyTls, type Termination } from './tls/options.js'
import { ToxicCollection, type ListedToxic } from './toxic-collection.js'
import { type Stream, type Toxic, type ToxicSpec } from './toxic.js'
import type { StatementFault, StatementFaultSpec } from './pg/statement-faults.js'
import type { StartupFault, StartupFaultSpec } from './pg/startup-faults.js'
import { isFaultToxicType, type FaultToxic, type FaultToxicType } from './pg/fault-toxics.js'
import './toxics/index.js'

export type { ListedToxic } from './toxic-collection.js'

/** Anything with a host and port: a `StartedServer`, `{host, port}`, or with a `url` to rewrite. */
export interface UpstreamTarget {
  host: string
  port: number
  url?: string
  /** A `StartedServer`'s TLS files: a terminating proxy shows clients the same certificate. */
  tls?: { caFile: string | null } | null
}

export interface ProxyOptions {
  /** A started server, `{host, port}`, a `postgres://` URL, or `host:port`. */
  upstream: UpstreamTarget | string
  name?: string
  /** `host:port` to listen on; port 0 (the default) picks a free port. */
  listen?: string
  enabled?: boolean
  /**
   * `postgres` (the default) follows the wire protocol so statement faults can act;
   * `tcp` passes bytes without looking at them (any other protocol).
   */
  protocol?: 'postgres' | 'tcp'
  /**
   * `passthrough` (the default) passes TLS through unread: toxics act, statement faults cannot.
   * `terminate` (or `{ cert, key, upstream }`) ends the client's TLS at the proxy and opens TLS
   * of its own to the server, so statement faults act on TLS connections too.
   */
  tls?: ProxyTls
}

export interface ProxyJson {
  name: string
  /** Only on terminating proxies, last in the JSON (Toxiproxy has no such field). */
  tls?: 'terminate'
  listen: string
  upstream: string
  enabled: boolean
  toxics: ListedToxic[]
}

let unnamed = 0

function resolveUpstream(upstream: ProxyOptions['upstream']): UpstreamTarget {
  if (typeof upstream !== 'string') return upstream
  if (/^postgres(ql)?:\/\//.test(upstream)) {
    const url = new URL(upstream)
    return {
      host: url.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
      port: Number(url.port || 5432),
      url: upstream,
    }
  }
  const address = splitHostPort(upstream)
  if (!address) {
    throw new PgrigError(
      'E_USAGE',
      `upstream ${JSON.stringify(upstream)} is not host:port or a postgres:// URL; pass e.g. 127.0.0.1:5432`,
    )
  }
  return address
}

/**
 * A TCP proxy in the test process: Toxiproxy's `{name, listen, upstream, enabled}` with toxics
 * per direction that can change while connections are open.
 */
export class ChaosProxy implements AsyncDisposable {
  readonly name: string
  private upstreamTarget: UpstreamTarget
  private server: net.Server | undefined
  private listenHost: string
  private listenPort: number
  private closed = false
  private readonly collection = new ToxicCollection(() => {
    for (const link of this.acceptor.links) link.toxicsChanged()
  })
  private readonly acceptor: Acceptor
  readonly protocol: 'postgres' | 'tcp'
  private readonly termination: Termination | undefined

  /** @internal use createProxy() */
  constructor(options: ProxyOptions) {
    this.protocol = options.protocol ?? 'postgres'
    this.name = options.name ?? `proxy_${++unnamed}`
    this.upstreamTarget = resolveUpstream(options.upstream)
    if (options.tls !== undefined && options.tls !== 'passthrough' && this.protocol !== 'postgres') {
      throw new PgrigError(
        'E_USAGE',
        `proxy ${this.name} passes raw TCP; TLS termination needs protocol: 'postgres' (it answers PostgreSQL's SSLRequest)`,
      )
    }
    this.termination = resolveTermination(this.name, options.tls, this.upstreamTarget)
    const listen = splitHostPort(options.listen ?? '127.0.0.1:0')
    if (!listen) {
      throw new PgrigError(
        'E_USAGE',
        `listen ${JSON.stringify(options.listen)} is not host:port; pass e.g. 127.0.0.1:0`,
      )
    }
    this.listenHost = listen.host
    this.listenPort = listen.port
    this.acceptor = new Acceptor({
      name: this.name,
      protocol: this.protocol,
      termination: this.termination,
      faults: this.collection.faults,
      target: () => this.upstreamTarget,
      listening: () => this.server !== undefined,
      toxics: (stream) => this.collection.of(stream),
    })
  }

  get enabled(): boolean {
    return this.server !== undefined
  }
  get host(): string {
    return this.listenHost
  }
  /** The bound port (stays the same across disable/enable). */
  get port(): number {
    return this.listenPort
  }
  get listen(): string {
    return joinHostPort(this.listenHost, this.listenPort)
  }
  get upstream(): string {
    return joinHostPort(this.upstreamTarget.host, this.upstreamTarget.port)
  }
  /** The upstream's connection URL with the proxy's host:port (when the upstream has a URL). */
  get url(): string {
    if (!this.upstreamTarget.url) {
      throw new PgrigError(
        'E_USAGE',
        `proxy ${this.name} was given ${this.upstream}, not a URL; use proxiedUrl(url, proxy)`,
      )
    }
    return proxiedUrl(this.upstreamTarget.url, this)
  }
  /** Open client connections. */
  get connections(): number {
    return this.acceptor.links.size
  }

  toxics(stream: Stream): readonly Toxic[] {
    return this.collection.of(stream)
  }

  /** Network toxics, then the `pg_*` fault toxics (as snapshots, with their `hits`). */
  listToxics(): ListedToxic[] {
    return this.collection.list()
  }

  getToxic(name: string): ListedToxic | undefined {
    return this.collection.get(name)
  }

  /**
   * Adds a network toxic, or a PostgreSQL-aware fault given as a toxic: `pg_error`, `pg_delay`,
   * `pg_ambiguous_commit`, `pg_refuse_connection` (stream upstream, toxicity = probability).
   */
  addToxic(spec: ToxicSpec & { type: FaultToxicType }): FaultToxic
  addToxic(spec: ToxicSpec): Toxic
  addToxic(spec: ToxicSpec): ListedToxic {
    if (isFaultToxicType(spec.type)) this.requirePostgres(spec.type)
    return this.collection.add(spec)
  }

  /** Changes attributes (merged) or toxicity; open connections see it on their next chunk. */
  updateToxic(
    name: string,
    update: { attributes?: Record<string, unknown>; toxicity?: number },
  ): ListedToxic {
    return this.collection.update(name, update)
  }

  removeToxic(name: string): void {
    this.collection.remove(name)
  }

  private requirePostgres(what: string): void {
    if (this.protocol !== 'postgres') {
      throw new PgrigError(
        'E_USAGE',
        `proxy ${this.name} passes raw TCP; create it with protocol: 'postgres' for ${what}`,
      )
    }
  }

  /** Starts listening (again, on the same port). */
  async enable(): Promise<void> {
    if (this.closed) throw new PgrigError('E_NOT_RUNNING', `proxy ${this.name} was closed; create a new one`)
    if (this.server) return
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) =>
      this.acceptor.accept(client),
    )
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        reject(
          error.code === 'EADDRINUSE'
            ? new PgrigError(
                'E_PORT_IN_USE',
                `proxy ${this.name} cannot listen on ${this.listen}: the port is taken; pick another or use port 0`,
              )
            : error,
        )
      })
      server.listen(this.listenPort, this.listenHost, () => resolve())
    })
    this.listenPort = (server.address() as net.AddressInfo).port
    this.server = server
  }

  /** "Down": stops listening and drops every open connection, like Toxiproxy's enabled=false. */
  async disable(): Promise<void> {
    const server = this.server
    if (!server) return
    this.server = undefined
    const closing = new Promise<void>((resolve) => server.close(() => resolve()))
    this.acceptor.drop()
    await closing
  }

  /**
   * Adds a PostgreSQL-aware fault: an injected error, a delay, or an ambiguous commit for the
   * statements it matches, on open and new connections. Statements inside passed-through TLS
   * cannot be read: create the proxy with `tls: 'terminate'`, or connect to it with
   * `sslmode=disable` (network toxics work either way).
   */
  addStatementFault(spec: StatementFaultSpec): StatementFault {
    this.requirePostgres('statement faults')
    return this.collection.faults.addStatement(spec)
  }

  removeStatementFault(fault: StatementFault | string): void {
    this.collection.faults.removeStatement(fault)
  }

  /** Statement faults still in force (spent `times` ones drop out). */
  listStatementFaults(): readonly StatementFault[] {
    return this.collection.faults.statements()
  }

  /**
   * Refuses new connections as a server that cannot take them does: the StartupMessage is
   * answered with a FATAL error (53300 "sorry, too many clients already" unless `code` says
   * otherwise) and the connection closes; the server never sees the startup. Through a
   * passthrough proxy a client that negotiates TLS with the server first (sslmode=require and up)
   * is not refused, its startup being inside TLS; a terminating proxy (`tls: 'terminate'`)
   * refuses it after the handshake, as a full server does.
   */
  addStartupFault(spec: StartupFaultSpec = {}): StartupFault {
    this.requirePostgres('startup faults')
    return this.collection.faults.addStartup(spec)
  }

  removeStartupFault(fault: StartupFault | string): void {
    this.collection.faults.removeStartup(fault)
  }

  /** Startup faults still in force (spent `times` ones drop out). */
  listStartupFaults(): readonly StartupFault[] {
    return this.collection.faults.startups()
  }

  /** Removes every toxic, statement and startup fault and enables the proxy again. */
  async reset(): Promise<void> {
    this.collection.clear()
    await this.enable()
  }

  /** Changes listen/upstream (drops open connections, as Toxiproxy restarts the proxy) or enabled. */
  async update(changes: { listen?: string; upstream?: string; enabled?: boolean }): Promise<void> {
    const listen = changes.listen !== undefined ? splitHostPort(changes.listen) : undefined
    if (changes.listen !== undefined && !listen)
      throw new PgrigError('E_CHAOS_INVALID', `bad request body: listen ${changes.listen} is not host:port`)
    const upstream = changes.upstream !== undefined ? splitHostPort(changes.upstream) : undefined
    if (changes.upstream !== undefined && !upstream)
      throw new PgrigError(
        'E_CHAOS_INVALID',
        `bad request body: upstream ${changes.upstream} is not host:port`,
      )
    const moved =
      (listen &&
        (listen.host !== this.listenHost || (listen.port !== 0 && listen.port !== this.listenPort))) ||
      (upstream && (upstream.host !== this.upstreamTarget.host || upstream.port !== this.upstreamTarget.port))
    const enabled = changes.enabled ?? this.enabled
    if (moved || !enabled) await this.disable()
    if (listen && moved) {
      this.listenHost = listen.host
      this.listenPort = listen.port
    }
    if (upstream && moved) this.upstreamTarget = { ...upstream, url: this.upstreamTarget.url }
    if (enabled) await this.enable()
  }

  async close(): Promise<void> {
    await this.disable()
    this.closed = true
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  toJSON(): ProxyJson {
    return {
      name: this.name,
      listen: this.listen,
      upstream: this.upstream,
      enabled: this.enabled,
      toxics: this.listToxics(),
      ...(this.termination ? { tls: 'terminate' as const } : {}),
    }
  }
}

/** Starts a proxy in front of `upstream` and resolves once it listens. */
export async function createProxy(options: ProxyOptions): Promise<ChaosProxy> {
  await warmUp()
  const proxy = new ChaosProxy(options)
  if (options.enabled !== false) await proxy.enable()
  return proxy
}

let warmedUp: Promise<void> | undefined

/**
 * Once per process, before the first proxy: one line round trip through a throwaway loopback
 * proxy with a 1 ms latency toxic each way. The first connection of a process runs the accept,
 * Link and toxic code for the first time (V8 compiles it then), 1.5–2 ms on a quiet machine and
 * more under load, and that time lands in front of the first chunk's arrival, so a test's first
 * latency measurement came out that much long. Failures are ignored (it only warms the code).
 */
function warmUp(): Promise<void> {
  warmedUp ??= (async () => {
    const echo = net.createServer((socket) => {
      socket.on('error', () => undefined)
      socket.on('data', (bytes) => socket.end(bytes))
    })
    let proxy: ChaosProxy | undefined
    let client: net.Socket | undefined
    let timer: NodeJS.Timeout | undefined
    try {
      await new Promise<void>((resolve, reject) => {
        echo.once('error', reject)
        echo.listen(0, '127.0.0.1', resolve)
      })
      const { port } = echo.address() as net.AddressInfo
      proxy = new ChaosProxy({ name: 'pgrig_warm_up', upstream: `localhost:${port}`, protocol: 'tcp' })
      await proxy.enable()
      for (const stream of ['upstream', 'downstream'] as const) {
        proxy.addToxic({ type: 'latency', stream, attributes: { latency: 1 } })
      }
      const socket = net.connect(proxy.port, '127.0.0.1')
      client = socket
      await new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 2000)
        timer.unref()
        socket.on('error', () => resolve())
        socket.once('data', () => resolve())
        socket.once('close', () => resolve())
        socket.write('warm\n')
      })
    } catch {
      // nothing to warm: the proxy works cold
    } finally {
      clearTimeout(timer)
      client?.destroy()
      await proxy?.close().catch(() => undefined)
      echo.close()
    }
  })()
  return warmedUp
}
