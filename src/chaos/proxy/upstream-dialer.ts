import dns from 'node:dns'
import net from 'node:net'

/**
 * Dials the upstream of a plain proxy. A name (`localhost:5432`) costs a resolver call on every
 * connection, 1–7 ms here (the first in a process the most), and that time lands in front of the
 * first bytes a test measures through a latency toxic: so the address a name last connected to is
 * dialled directly, and a name is looked up ahead of its first connection. A connection that fails
 * to a remembered address forgets it, so the next one resolves the name again.
 */
export class UpstreamDialer {
  private readonly connected = new Map<string, string>()

  /** Warms the resolver for `host` (no connection is made): the first dial then costs what later ones do. */
  prepare(host: string): void {
    if (net.isIP(host) || this.connected.has(host)) return
    dns.lookup(host, { all: true }, () => undefined)
  }

  dial(target: { host: string; port: number }): net.Socket {
    const remembered = this.connected.get(target.host)
    const socket = net.connect({ host: remembered ?? target.host, port: target.port, allowHalfOpen: true })
    if (net.isIP(target.host)) return socket
    socket.once('connect', () => {
      if (socket.remoteAddress) this.connected.set(target.host, socket.remoteAddress)
    })
    socket.once('error', () => {
      if (this.connected.get(target.host) === remembered) this.connected.delete(target.host)
    })
    return socket
  }
}
