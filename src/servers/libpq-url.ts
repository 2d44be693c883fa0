import os from 'node:os'

/** A URL whose authority names no host (`postgres:///db`, `postgres://u:p@/db`): group 1 up to the host, group 2 after it. */
const EMPTY_HOST = /^(postgres(?:ql)?:\/\/(?:[^/?#]*@)?)(?=[/?#]|$)(.*)$/is

export interface ParseLibpqUrlOptions {
  /**
   * The host a URL that names none (no authority host, no `?host=`) is read with, as libpq's
   * default (`postgres://app@/db` read as `postgres://app@localhost/db`). Without it such a URL
   * with userinfo fails, and one without keeps its empty host.
   */
  defaultHost?: string | undefined
}

/**
 * Parses a libpq connection URL, socket forms included: `postgres:///db?host=/run/pg` parses as
 * it is, and `postgres://u:p@/db?host=/run/pg` (userinfo and an empty host, which the WHATWG
 * parser refuses) is read with the socket folder, percent-encoded, as its host, as libpq allows.
 * Throws the parser's TypeError when it is not a URL either way.
 */
export function parseLibpqUrl(raw: string, options: ParseLibpqUrlOptions = {}): URL {
  const match = EMPTY_HOST.exec(raw)
  if (!match) return new URL(raw)
  const authority = match[1] ?? ''
  const rest = match[2] ?? ''
  const query = rest.includes('?') ? rest.slice(rest.indexOf('?') + 1).split('#')[0] : ''
  const host = new URLSearchParams(query).get('host')
  if (host && authority.includes('@')) return new URL(`${authority}${encodeURIComponent(host)}${rest}`)
  if (!host && options.defaultHost) return new URL(`${authority}${options.defaultHost}${rest}`)
  return new URL(raw)
}

/**
 * Changes a libpq URL and writes it back in its own form: a socket URL with userinfo and an empty
 * host stays so (node-postgres reads the folder from `?host=`, not from a percent-encoded host).
 */
export function editLibpqUrl(raw: string, edit: (url: URL) => void): string {
  const url = parseLibpqUrl(raw)
  const encodedHost = URL.canParse(raw) ? undefined : url.host
  edit(url)
  const text = url.toString()
  return encodedHost ? text.replace(`@${encodedHost}`, '@') : text
}

/** The host a URL connects to as libpq reads it: `?host=` (a socket folder, say) wins over the authority. */
export function hostOf(url: URL): string {
  return url.searchParams.get('host') || decodeURIComponent(url.hostname).replace(/^\[(.*)\]$/, '$1')
}

/** Its port as libpq reads it: `?port=` wins over the authority's; 5432 when neither says. */
export function portOf(url: URL): number {
  return Number(url.searchParams.get('port') || url.port || 5432)
}

/** The user a URL connects as: its userinfo, else `?user=`, else (as libpq does) the OS user. */
export function userOf(url: string | URL): string {
  const parsed = typeof url === 'string' ? parseLibpqUrl(url) : url
  return decodeURIComponent(parsed.username) || parsed.searchParams.get('user') || os.userInfo().username
}

/** The same server and credentials, another database. */
export function withDatabase(url: string, database: string): string {
  return editLibpqUrl(url, (parsed) => {
    parsed.pathname = `/${encodeURIComponent(database)}`
  })
}

/**
 * withDatabase for many databases of one server, the URL parsed once: a pool's every lease names
 * its clone in two URLs, and parsing and writing back each cost more than the rest of a checkout.
 */
export function databaseUrls(url: string): (database: string) => string {
  const marker = 'pgrig0database0marker'
  const text = withDatabase(url, marker)
  const at = text.indexOf(`/${marker}`) + 1
  const head = text.slice(0, at)
  const tail = text.slice(at + marker.length)
  return (database) => `${head}${encodeURIComponent(database)}${tail}`
}
