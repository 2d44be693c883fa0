import fs from 'node:fs'
import net from 'node:net'

/** The lowest port an unprivileged process may bind (Linux: net.ipv4.ip_unprivileged_port_start, else 1024). */
export function firstUnprivilegedPort(): number {
  try {
    const value = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8').trim())
    return Number.isInteger(value) ? value : 1024
  } catch {
    return process.platform === 'darwin' ? 0 : 1024
  }
}

function listenOnce(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.once('error', reject)
    server.listen({ host, port, exclusive: true }, () => {
      const address = server.address()
      const bound = typeof address === 'object' && address ? address.port : port
      server.close(() => resolve(bound))
    })
  })
}

/** A port the OS considers free right now; the server start retries if someone takes it first. */
export function freePort(host: string): Promise<number> {
  return listenOnce(host === 'localhost' ? '127.0.0.1' : host, 0)
}

export async function isPortFree(host: string, port: number): Promise<boolean> {
  const hosts = host === 'localhost' ? ['127.0.0.1', '::1'] : [host]
  for (const h of hosts) {
    try {
      await listenOnce(h, port)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      // No IPv6 on this machine is not "taken".
      if (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT') continue
      return false
    }
  }
  return true
}
