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

/** The user a URL connects as: its userinfo, else `?user=`, else (as libpq does) the OS user. */
export function userOf(url: string | URL): string {
  const parsed = typeof url === 'string' ? parseLibpqUrl(url) : url
  return decodeURIComponent(parsed.username) || parsed.searchParams.get('user') || os.userInfo().username
}
