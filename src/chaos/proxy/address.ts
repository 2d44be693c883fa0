/** `host:port` as Toxiproxy writes it (IPv6 hosts in brackets). */
export function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

export function splitHostPort(address: string): { host: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(address.trim())
  if (!match) return undefined
  const port = Number(match[3])
  if (port > 65535) return undefined
  return { host: match[1] ?? (match[2] || '127.0.0.1'), port }
}

/** The same connection URL pointed at another host:port (user, database and params kept). */
export function proxiedUrl(url: string, proxy: { host: string; port: number }): string {
  const parsed = new URL(url)
  parsed.hostname = proxy.host.includes(':') ? `[${proxy.host}]` : proxy.host
  parsed.port = String(proxy.port)
  return parsed.toString()
}
