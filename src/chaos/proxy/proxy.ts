import net from 'node:net'
import { PgrigError } from '../../errors.js'
import { isStartupProtocol } from '../../pg-wire/index.js'
import { joinHostPort, proxiedUrl, splitHostPort } from './address.js'
import { openTerminated, type Opened } from './tls/handshake.js'
import { resolveTermination, type ProxyTls, type Termination } from './tls/options.js'
import { Link, type LinkHost } from './link.js'
import { readUntil } from './read-until.js'
import { buildToxic, mergeAttributes, ToxicError, type Stream, type Toxic, type ToxicSpec } from './toxic.js'
import { PgSession } from './pg/session.js'
import type { StatementFault, StatementFaultSpec } from './pg/statement-faults.js'
import type { StartupFault, StartupFaultSpec } from './pg/startup-faults.js'
import { isFaultToxicType, type FaultToxic, type FaultToxicType } from './pg/fault-toxics.js'
import { FaultSet } from './pg/fault-set.js'
import './toxics/index.js'

/** Anything with a host and port: a `StartedCluster`, `{host, port}`, or with a `url` to rewrite. */
export interface UpstreamTarget {
  host: string
  port: number
  url?: string
  /** A `StartedCluster`'s TLS files: a terminating proxy shows clients the same certificate. */
  tls?: { caFile: string | null } | null
}

export interface ProxyOptions {
  /** A started cluster, `{host, port}`, a `postgres://` URL, or `host:port`. */
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

/** A network toxic, or a PostgreSQL-aware fault set as a `pg_*` toxic (a snapshot). */
export type ListedToxic = Toxic | FaultToxic

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
/** How long a new connection may take to send its first message (PostgreSQL's authentication_timeout). */
const STARTUP_TIMEOUT_MS = 60_000

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
export class ChaosProxy implements LinkHost, AsyncDisposable {
  readonly name: string
  private target: UpstreamTarget
  private server: net.Server | undefined
  private listenHost: string
  private listenPort: number
  private readonly links = new Set<Link>()
  private readonly streams: Record<Stream, Toxic[]> = { upstream: [], downstream: [] }
  private closed = false
  private readonly faults = new FaultSet()
  readonly protocol: 'postgres' | 'tcp'
  private readonly termination: Termination | undefined
  /** Sockets of connections still in their TLS negotiation (not yet a Link). */
  private readonly negotiating = new Set<net.Socket>()

  /** @internal use createProxy() */
  constructor(options: ProxyOptions) {
    this.protocol = options.protocol ?? 'postgres'
    this.name = options.name ?? `proxy_${++unnamed}`
    this.target = resolveUpstream(options.upstream)
    if (options.tls !== undefined && options.tls !== 'passthrough' && this.protocol !== 'postgres') {
      throw new PgrigError(
        'E_USAGE',
        `proxy ${this.name} passes raw TCP; TLS termination needs protocol: 'postgres' (it answers PostgreSQL's SSLRequest)`,
      )
    }
    this.termination = resolveTermination(this.name, options.tls, this.target)
    const listen = splitHostPort(options.listen ?? '127.0.0.1:0')
    if (!listen) {
      throw new PgrigError(
        'E_USAGE',
        `listen ${JSON.stringify(options.listen)} is not host:port; pass e.g. 127.0.0.1:0`,
      )
    }
    this.listenHost = listen.host
    this.listenPort = listen.port
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
    return joinHostPort(this.target.host, this.target.port)
  }
  /** The upstream's connection URL with the proxy's host:port (when the upstream has a URL). */
  get url(): string {
    if (!this.target.url) {
      throw new PgrigError(
        'E_USAGE',
        `proxy ${this.name} was given ${this.upstream}, not a URL; use proxiedUrl(url, proxy)`,
      )
    }
    return proxiedUrl(this.target.url, this)
  }
  /** Open client connections. */
  get connections(): number {
    return this.links.size
  }

  toxics(stream: Stream): readonly Toxic[] {
    return this.streams[stream]
  }

  /** Network toxics, then the `pg_*` fault toxics (as snapshots, with their `hits`). */
  listToxics(): ListedToxic[] {
    return [...this.streams.upstream, ...this.streams.downstream, ...this.faults.toxics()]
  }

  getToxic(name: string): ListedToxic | undefined {
    return this.listToxics().find((t) => t.name === name)
  }

  /**
   * Adds a network toxic, or a PostgreSQL-aware fault given as a toxic: `pg_error`, `pg_delay`,
   * `pg_ambiguous_commit`, `pg_refuse_connection` (stream upstream, toxicity = probability).
   */
  addToxic(spec: ToxicSpec & { type: FaultToxicType }): FaultToxic
  addToxic(spec: ToxicSpec): Toxic
  addToxic(spec: ToxicSpec): ListedToxic {
    if (isFaultToxicType(spec.type)) {
      this.requirePostgres(spec.type)
      return this.faults.addToxic(spec.type, spec, (name) => this.getToxic(name) !== undefined)
    }
    const toxic = buildToxic(spec)
    if (this.getToxic(toxic.name)) throw new ToxicError('toxic already exists', 409)
    this.streams[toxic.stream] = [...this.streams[toxic.stream], toxic]
    this.toxicsChanged()
    return toxic
  }

  /** Changes attributes (merged) or toxicity; open connections see it on their next chunk. */
  updateToxic(
    name: string,
    update: { attributes?: Record<string, unknown>; toxicity?: number },
  ): ListedToxic {
    const fault = this.faults.updateToxic(name, update)
    if (fault) return fault
    const toxic = [...this.streams.upstream, ...this.streams.downstream].find((t) => t.name === name)
    if (!toxic) throw new ToxicError('toxic not found', 404)
    const attributes = mergeAttributes(toxic.attributes, update.attributes)
    if (update.toxicity !== undefined) {
      if (typeof update.toxicity !== 'number' || !(update.toxicity >= 0 && update.toxicity <= 1)) {
        throw new ToxicError('bad request body: toxicity must be a number between 0 and 1', 400)
      }
      toxic.toxicity = update.toxicity
    }
    Object.assign(toxic.attributes, attributes)
    return toxic
  }

  removeToxic(name: string): void {
    if (this.faults.removeToxic(name)) return
    const toxic = [...this.streams.upstream, ...this.streams.downstream].find((t) => t.name === name)
    if (!toxic) throw new ToxicError('toxic not found', 404)
    this.streams[toxic.stream] = this.streams[toxic.stream].filter((t) => t !== toxic)
    this.toxicsChanged()
  }

  private requirePostgres(what: string): void {
    if (this.protocol !== 'postgres') {
      throw new PgrigError(
        'E_USAGE',
        `proxy ${this.name} passes raw TCP; create it with protocol: 'postgres' for ${what}`,
      )
    }
  }

  private toxicsChanged(): void {
    for (const link of this.links) link.toxicsChanged()
  }

  /** Starts listening (again, on the same port). */
  async enable(): Promise<void> {
    if (this.closed) throw new PgrigError('E_NOT_RUNNING', `proxy ${this.name} was closed; create a new one`)
    if (this.server) return
    const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => this.accept(client))
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
    for (const link of this.links) link.close('end')
    for (const socket of this.negotiating) socket.destroy()
    this.negotiating.clear()
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
    return this.faults.addStatement(spec)
  }

  removeStatementFault(fault: StatementFault | string): void {
    this.faults.removeStatement(fault)
  }

  /** Statement faults still in force (spent `times` ones drop out). */
  listStatementFaults(): readonly StatementFault[] {
    return this.faults.statements()
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
    return this.faults.addStartup(spec)
  }

  removeStartupFault(fault: StartupFault | string): void {
    this.faults.removeStartup(fault)
  }

  /** Startup faults still in force (spent `times` ones drop out). */
  listStartupFaults(): readonly StartupFault[] {
    return this.faults.startups()
  }

  /** Removes every toxic, statement and startup fault and enables the proxy again. */
  async reset(): Promise<void> {
    this.faults.clear()
    this.streams.upstream = []
    this.streams.downstream = []
    this.toxicsChanged()
    await this.enable()
  }

  /** Changes listen/upstream (drops open connections, as Toxiproxy restarts the proxy) or enabled. */
  async update(changes: { listen?: string; upstream?: string; enabled?: boolean }): Promise<void> {
    const listen = changes.listen !== undefined ? splitHostPort(changes.listen) : undefined
    if (changes.listen !== undefined && !listen)
      throw new ToxicError(`bad request body: listen ${changes.listen} is not host:port`, 400)
    const upstream = changes.upstream !== undefined ? splitHostPort(changes.upstream) : undefined
    if (changes.upstream !== undefined && !upstream)
      throw new ToxicError(`bad request body: upstream ${changes.upstream} is not host:port`, 400)
    const moved =
      (listen &&
        (listen.host !== this.listenHost || (listen.port !== 0 && listen.port !== this.listenPort))) ||
      (upstream && (upstream.host !== this.target.host || upstream.port !== this.target.port))
    const enabled = changes.enabled ?? this.enabled
    if (moved || !enabled) await this.disable()
    if (listen && moved) {
      this.listenHost = listen.host
      this.listenPort = listen.port
    }
    if (upstream && moved) this.target = { ...upstream, url: this.target.url }
    if (enabled) await this.enable()
  }

  /** `opened`: what a terminating proxy negotiated (the TLS ends and the TCP under them). */
  private accept(socket: net.Socket, opened?: Opened, first?: 'startup' | 'other'): void {
    if (this.termination && !opened) return this.acceptTerminating(socket, this.termination)
    if (!opened && !first && this.protocol === 'postgres' && this.faults.startups().length > 0) {
      return this.acceptRefusable(socket)
    }
    const client = opened?.client ?? socket
    const server =
      opened?.server ?? net.connect({ host: this.target.host, port: this.target.port, allowHalfOpen: true })
    let link: Link | undefined = undefined
    const session =
      this.protocol === 'postgres'
        ? new PgSession({
            faults: () => this.listStatementFaults(),
            toClient: (bytes) => client.write(bytes),
            cut: () => link?.close('end'),
            // a startup acceptRefusable let through is not judged twice
            refusal: () => (first === 'startup' ? undefined : this.faults.refusal()),
          })
        : undefined
    link = new Link(this, client, server, session, opened?.tcp)
    this.links.add(link)
    link.onClose = () => this.links.delete(link)
  }

  /**
   * With startup faults in force, the first bytes are read before the server is dialled, so a
   * refused connection costs the server nothing (not even a forked backend).
   */
  private acceptRefusable(client: net.Socket): void {
    // a reset before the first message is the client's business; the Link handles errors later
    client.on('error', () => undefined)
    const held = this.hold(client, STARTUP_TIMEOUT_MS)
    // 8 bytes hold a StartupMessage's protocol code; other protocols show at their first bytes
    const enough = (b: Buffer) => b.length >= 8 || (b.length >= 2 && (b[0]! | b[1]!) !== 0)
    readUntil(client, enough).then(
      (head) => {
        held.release()
        if (!this.server) return void client.destroy()
        const startup = head.length >= 8 && isStartupProtocol(head.readUInt32BE(4))
        const refusal = startup ? this.faults.refusal() : undefined
        if (refusal) {
          // as a Link closes: the FATAL goes out first, then the socket goes even if the client lingers
          client.end(refusal)
          setTimeout(() => client.destroy(), 1000).unref()
          return
        }
        client.unshift(head)
        this.accept(client, undefined, startup ? 'startup' : 'other')
        client.resume()
      },
      () => {
        held.release()
        held.destroy()
      },
    )
  }

  private acceptTerminating(client: net.Socket, termination: Termination): void {
    const held = this.hold(client, termination.handshakeTimeout)
    openTerminated(client, termination, this.target, this.name, held.add).then(
      (opened) => {
        held.release()
        if (!opened) return
        if (!this.server || opened.client.destroyed || opened.server.destroyed) {
          for (const socket of [opened.client, opened.server, ...opened.tcp]) socket.destroy()
          return
        }
        this.accept(opened.client, opened)
        // the negotiation left plain sockets paused; TLS sockets (and the TCP under them) flow
        // once the Link reads them
        for (const socket of [opened.client, opened.server]) if (opened.tcp.includes(socket)) socket.resume()
      },
      () => {
        held.release()
        held.destroy()
      },
    )
  }

  /**
   * The sockets of a connection that is not a Link yet: destroyed when the proxy is disabled, or
   * when they are still held after `ms` (a stalled client must not hold them for ever).
   */
  private hold(first: net.Socket, ms: number) {
    const sockets = [first]
    this.negotiating.add(first)
    const destroy = () => {
      for (const socket of sockets) socket.destroy()
    }
    const stalled = setTimeout(destroy, ms)
    stalled.unref()
    return {
      add: (socket: net.Socket) => {
        sockets.push(socket)
        if (this.server) this.negotiating.add(socket)
        else socket.destroy()
      },
      release: () => {
        clearTimeout(stalled)
        for (const socket of sockets) this.negotiating.delete(socket)
      },
      destroy,
    }
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
  const proxy = new ChaosProxy(options)
  if (options.enabled !== false) await proxy.enable()
  return proxy
}
