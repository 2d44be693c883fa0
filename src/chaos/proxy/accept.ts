import net from 'node:net'
import { isStartupProtocol } from '../../pg-wire/index.js'
import { openTerminated, type Opened } from './tls/handshake.js'
import type { Termination } from './tls/options.js'
import { Link, type LinkHost } from './link.js'
import { readUntil } from './read-until.js'
import { UpstreamDialer } from './upstream-dialer.js'
import { ProxiedConnection } from './pg/proxied-connection.js'
import type { FaultSet } from './pg/fault-set.js'

/** How long a new connection may take to send its first message (PostgreSQL's authentication_timeout). */
const STARTUP_TIMEOUT_MS = 60_000

/** What the accept paths need of their proxy. */
export interface AcceptHost extends LinkHost {
  readonly name: string
  readonly protocol: 'postgres' | 'tcp'
  readonly termination: Termination | undefined
  readonly faults: FaultSet
  /** The server connections go to (it may change while the proxy runs). */
  target(): { host: string; port: number }
  /** False once the proxy stopped listening: a connection still on its way is dropped. */
  listening(): boolean
}

/**
 * The connections of one proxy, from accept to Link: plain ones straight away; with startup
 * faults in force, after their first bytes are read; on a terminating proxy, after both TLS
 * handshakes.
 */
export class Acceptor {
  readonly links = new Set<Link>()
  /** Sockets of connections still in their TLS negotiation or first read (not yet a Link). */
  private readonly negotiating = new Set<net.Socket>()
  private readonly dialer = new UpstreamDialer()

  constructor(private readonly host: AcceptHost) {
    this.dialer.prepare(host.target().host)
  }

  /** `opened`: what a terminating proxy negotiated (the TLS ends and the TCP under them). */
  accept(socket: net.Socket, opened?: Opened, first?: 'startup' | 'other'): void {
    const host = this.host
    if (host.termination && !opened) return this.acceptTerminating(socket, host.termination)
    if (!opened && !first && host.protocol === 'postgres' && host.faults.startups().length > 0) {
      return this.acceptRefusable(socket)
    }
    const client = opened?.client ?? socket
    const target = host.target()
    const server = opened?.server ?? this.dialer.dial(target)
    let link: Link | undefined = undefined
    const proxied =
      host.protocol === 'postgres'
        ? new ProxiedConnection({
            faults: () => host.faults.statements(),
            toClient: (bytes) => client.write(bytes),
            cut: () => link?.close('end'),
            // a startup acceptRefusable let through is not judged twice
            refusal: () => (first === 'startup' ? undefined : host.faults.refusal()),
          })
        : undefined
    link = new Link(host, client, server, proxied, opened?.tcp)
    this.links.add(link)
    link.onClose = () => this.links.delete(link)
  }

  /** Closes every connection, open or on its way (the proxy stopped listening). */
  drop(): void {
    for (const link of this.links) link.close('end')
    for (const socket of this.negotiating) socket.destroy()
    this.negotiating.clear()
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
        if (!this.host.listening()) return void client.destroy()
        const startup = head.length >= 8 && isStartupProtocol(head.readUInt32BE(4))
        const refusal = startup ? this.host.faults.refusal() : undefined
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
    openTerminated(client, termination, this.host.target(), this.host.name, held.add).then(
      (opened) => {
        held.release()
        if (!opened) return
        if (!this.host.listening() || opened.client.destroyed || opened.server.destroyed) {
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
        if (this.host.listening()) this.negotiating.add(socket)
        else socket.destroy()
      },
      release: () => {
        clearTimeout(stalled)
        for (const socket of sockets) this.negotiating.delete(socket)
      },
      destroy,
    }
  }
}
