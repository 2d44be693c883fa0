import { PgrigError } from '../errors.js'

export const HBA_TYPES = ['local', 'host', 'hostssl', 'hostnossl'] as const
/** The pg_hba methods a test server can honour on its own (no LDAP, RADIUS, Kerberos server…). */
export const HBA_METHODS = ['scram-sha-256', 'md5', 'password', 'trust', 'reject', 'cert', 'peer'] as const

export type HbaType = (typeof HBA_TYPES)[number]
export type HbaMethod = (typeof HBA_METHODS)[number]

/** One `hba` rule as a user writes it; pgrig puts the rules, in order, before its own lines. */
export interface HbaRuleInput {
  /** `local` (the unix socket), `host`, `hostssl`, `hostnossl`; default: what the server's own TCP lines use. */
  type?: HbaType | undefined
  /** A database, a comma-separated list, or `all` / `sameuser` / `samerole` / `replication` (default `all`). */
  database?: string | undefined
  /** A role, a comma-separated list, `+group`, or `all` (default `all`). */
  user?: string | undefined
  /** A loopback address or CIDR inside 127.0.0.0/8 or ::1; default both `127.0.0.1/32` and `::1/128`. */
  address?: string | undefined
  method: HbaMethod
}

/** A rule with every field decided, as pg_hba.conf gets it. */
export interface HbaRule {
  type: HbaType
  database: string
  user: string
  /** CIDRs; empty for `local`. */
  addresses: string[]
  method: HbaMethod
}

const WORD = /^\+?[A-Za-z_][A-Za-z0-9_$]*$/

function checkList(value: string, keywords: string[], what: string, at: string): string {
  for (const word of value.split(',')) {
    if (keywords.includes(word) || WORD.test(word)) continue
    throw new PgrigError(
      'E_CONFIG_INVALID',
      `${at}: ${what} ${JSON.stringify(value)} is not a ${what} name, a comma-separated list of them or ${keywords.join(' / ')}; pgrig writes the rule into pg_hba.conf itself, so quotes, spaces, @files and /regexes are refused`,
    )
  }
  return value
}

/** `127.0.0.1`, `127.0.0.0/8`, `127.1.2.3/32`, `::1`, `::1/128`: loopback only, as CIDRs. */
function loopbackCidr(address: string, at: string): string {
  const v4 = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(address)
  if (
    v4 &&
    v4.slice(1, 4).every((n) => Number(n) <= 255) &&
    Number(v4[4] ?? 32) >= 8 &&
    Number(v4[4] ?? 32) <= 32
  ) {
    return address.includes('/') ? address : `${address}/32`
  }
  if (address === '::1' || address === '::1/128') return '::1/128'
  throw new PgrigError(
    'E_CONFIG_INVALID',
    `${at}: address ${JSON.stringify(address)} is not a loopback address; pgrig servers take connections from this machine only, so a rule may name 127.0.0.0/8 (e.g. 127.0.0.1/32) or ::1/128, or leave address out for both`,
  )
}

/**
 * Checks the rules against the server they go on and fills in defaults. Refused, each in one line:
 * words pg_hba.conf would read as something else, addresses off this machine, a rule TCP clients
 * cannot reach on this server's TLS setting, and `trust` over TCP for every role or the superuser
 * (any local user can reach a loopback port; `auth: 'trust'` says that on purpose).
 */
export function resolveHba(
  rules: HbaRuleInput[],
  server: { superuser: string; tlsOff: boolean; sslOnly: boolean },
  where: string,
): HbaRule[] {
  return rules.map((rule, i) => {
    const at = `${where}: hba[${i}]`
    const type = rule.type ?? (server.sslOnly ? 'hostssl' : 'host')
    const database = checkList(
      rule.database ?? 'all',
      ['all', 'sameuser', 'samerole', 'replication'],
      'database',
      at,
    )
    const user = checkList(rule.user ?? 'all', ['all'], 'user', at)
    const method = rule.method
    if (type === 'local') {
      if (rule.address !== undefined) {
        throw new PgrigError(
          'E_CONFIG_INVALID',
          `${at}: a local rule (the unix socket) takes no address; drop address or use type host`,
        )
      }
      if (method === 'cert') {
        throw new PgrigError(
          'E_CONFIG_INVALID',
          `${at}: method cert needs TLS, which the unix socket has not; use type hostssl`,
        )
      }
      return { type, database, user, addresses: [], method }
    }
    if (method === 'peer') {
      throw new PgrigError(
        'E_CONFIG_INVALID',
        `${at}: method peer works on the unix socket only; use type local, or another method`,
      )
    }
    if (server.tlsOff && type === 'hostssl') {
      throw new PgrigError(
        'E_CONFIG_INVALID',
        `${at}: type hostssl matches TLS connections, but this server's tls is off; set tls to on or required, or use type host`,
      )
    }
    if (server.sslOnly && type !== 'hostssl' && method !== 'reject') {
      throw new PgrigError(
        'E_CONFIG_INVALID',
        `${at}: type ${type} would let plain TCP in, but this server takes TLS only (tls required or a client certificate); use type hostssl or leave type out`,
      )
    }
    if (method === 'cert' && type !== 'hostssl') {
      throw new PgrigError(
        'E_CONFIG_INVALID',
        `${at}: method cert works on TLS connections only; use type hostssl (and tls on or required)`,
      )
    }
    if (method === 'trust') {
      const roles = user.split(',')
      const wide = roles.find((role) => role === 'all' || role === server.superuser || role.startsWith('+'))
      if (wide) {
        throw new PgrigError(
          'E_CONFIG_INVALID',
          `${at}: trust over TCP for ${wide === 'all' ? 'every role' : wide.startsWith('+') ? `group ${wide}` : `the superuser ${wide}`} would let any user of this machine in without a password (loopback ports are open to every local user); name the roles to trust, not the superuser, or set auth: 'trust' to trust every role on purpose`,
        )
      }
    }
    const addresses =
      rule.address === undefined ? ['127.0.0.1/32', '::1/128'] : [loopbackCidr(rule.address, at)]
    return { type, database, user, addresses, method }
  })
}
