import os from 'node:os'

const EMPTY_HOST_WITH_USERINFO = /^(postgres(?:ql)?:\/\/[^/?#]*@)(?=[/?#]|$)(.*)$/is

/**
 * Parses a libpq connection URL, socket forms included: `postgres:///db?host=/run/pg` parses as
 * it is, and `postgres://u:p@/db?host=/run/pg` (userinfo and an empty host, which the WHATWG
 * parser refuses) is read with the socket folder, percent-encoded, as its host, as libpq allows.
 * Throws the parser's TypeError when it is not a URL either way.
 */
export function parseLibpqUrl(raw: string): URL {
  try {
    return new URL(raw)
  } catch (error) {
    const match = EMPTY_HOST_WITH_USERINFO.exec(raw)
    if (!match) throw error
    const rest = match[2] ?? ''
    const query = rest.includes('?') ? rest.slice(rest.indexOf('?') + 1).split('#')[0] : ''
    const host = new URLSearchParams(query).get('host')
    if (!host) throw error
    return new URL(`${match[1]}${encodeURIComponent(host)}${rest}`)
  }
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
