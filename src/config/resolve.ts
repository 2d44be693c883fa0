import path from 'node:path'
import type { z } from 'zod'
import { PgrigError } from '../errors.js'
import { checkedBefore, rememberChecked } from './checked-options.js'
import { resolveHba, type HbaRule } from './hba.js'
import {
  schemas,
  type AuthMethod,
  type ClientCertMode,
  type EngineKind,
  type InitSqlRole,
  type PgrigConfig,
  type Profile,
  type ServerOptions,
  type TlsMode,
} from './schema.js'

/** One server with every option decided, except what is only known at start (free port, generated password). */
export interface ServerSpec {
  name: string
  engine: EngineKind
  /** Requested version: a major (`'17'`), a minor (`'17.6'`) or `undefined` for the newest available. */
  version: string | undefined
  url: string | undefined
  port: number
  host: string
  user: string
  password: string | undefined
  database: string
  superuser: { user: string; password: string | undefined }
  initSql: string[]
  /** Who runs the init scripts; `app` by default, so the app user owns what they create. */
  initSqlAs: InitSqlRole
  settings: Record<string, string | number | boolean>
  locale: string
  encoding: string
  tls: TlsMode
  clientCert: ClientCertMode
  auth: AuthMethod
  /** The config's `hba` rules, checked, written before pgrig's own pg_hba.conf lines. */
  hba: HbaRule[]
  certDir: string | undefined
  tmpfs: boolean
  dataChecksums: boolean
  startupTimeout: number
}

const PROFILE_DEFAULTS: Record<Profile, Pick<ServerSpec, 'tls' | 'clientCert' | 'auth'>> = {
  plain: { tls: 'off', clientCert: 'off', auth: 'scram-sha-256' },
  tls: { tls: 'on', clientCert: 'off', auth: 'scram-sha-256' },
  'client-cert': { tls: 'required', clientCert: 'verify-ca', auth: 'scram-sha-256' },
}

export const DEFAULT_SERVER_NAME = 'main'

const SYSTEM_DATABASES = new Set(['postgres', 'template0', 'template1'])

/** Settings pgrig decides itself; each with what to use instead. */
const OWNED_SETTINGS: Record<string, string> = {
  port: 'use port (--port)',
  unix_socket_directories: 'pgrig puts the socket in the run folder',
  data_directory: 'pgrig manages the data dir',
  config_file: 'pgrig writes postgresql.conf',
  hba_file:
    'pgrig writes pg_hba.conf from auth, tls and clientCert; give per-role rules as hba: [{ user, database, method }]',
  ident_file: 'pgrig writes pg_ident.conf',
  external_pid_file: 'pgrig tracks the postmaster itself',
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1'])

/** Refuses settings that would bypass pgrig's loopback-only rule or the files it writes itself. */
function checkSettings(settings: Record<string, unknown>, where: string): void {
  for (const [key, value] of Object.entries(settings)) {
    if (key === 'listen_addresses') {
      const hosts = String(value)
        .split(',')
        .map((h) => h.trim())
      if (hosts.every((h) => LOOPBACK.has(h))) continue
      throw new PgrigError(
        'E_CONFIG_INVALID',
        `${where}: settings.listen_addresses ${JSON.stringify(String(value))}: pgrig servers listen on loopback only: 127.0.0.1, localhost or ::1; use host (--host) instead`,
      )
    }
    const instead = OWNED_SETTINGS[key]
    if (instead) {
      throw new PgrigError(
        'E_CONFIG_INVALID',
        `${where}: settings.${key} is set by pgrig and cannot be overridden; ${instead}`,
      )
    }
  }
}

/** Turns zod's findings into one line: where, what was wrong, and what to do. */
export function describeIssues(source: string, error: z.ZodError): string {
  const issue = error.issues[0]
  if (!issue) return `${source}: invalid`
  const where = issue.path.length ? issue.path.join('.') : '(top level)'
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.join(', ')
    return `${source}: unknown option ${keys} at ${where === '(top level)' ? 'the top level' : where}; check the spelling against the option list in pgrig's docs/cli.md`
  }
  return `${source}: ${where}: ${issue.message}`
}

export function parseConfig(input: unknown, source: string): PgrigConfig {
  const known = checkedBefore<PgrigConfig>('config', input)
  if (known) return known
  const result = schemas().configSchema.safeParse(input)
  if (!result.success) throw new PgrigError('E_CONFIG_INVALID', describeIssues(source, result.error))
  rememberChecked('config', input)
  return result.data
}

export function parseServerOptions(input: unknown, source: string): ServerOptions {
  // Nothing to check: no need to load the schemas (the common `startServer()`).
  if (isEmptyObject(input)) return {}
  const known = checkedBefore<ServerOptions>('server', input)
  if (known) return known
  const result = schemas().serverOptionsSchema.safeParse(input)
  if (!result.success) throw new PgrigError('E_CONFIG_INVALID', describeIssues(source, result.error))
  rememberChecked('server', input)
  return result.data
}

function isEmptyObject(input: unknown): boolean {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return false
  if (Object.getPrototypeOf(input) !== Object.prototype && Object.getPrototypeOf(input) !== null) return false
  return Object.keys(input).length === 0
}

function asList(value: string | string[] | undefined): string[] {
  if (value === undefined) return []
  return Array.isArray(value) ? value : [value]
}

/** Applies profile defaults, checks combinations no server can honour, and fills in defaults. */
export function resolveServer(options: ServerOptions, baseDir = process.cwd()): ServerSpec {
  const parsed = parseServerOptions(options, options.name ? `server ${options.name}` : 'server options')
  const name = parsed.name ?? DEFAULT_SERVER_NAME
  const where = `server ${name}`
  if (
    parsed.pg !== undefined &&
    parsed.version !== undefined &&
    String(parsed.pg) !== String(parsed.version)
  ) {
    throw new PgrigError(
      'E_CONFIG_INVALID',
      `${where}: pg (${parsed.pg}) and version (${parsed.version}) disagree; give only one of them`,
    )
  }
  const profile = PROFILE_DEFAULTS[parsed.profile ?? 'plain']
  const tls = parsed.tls ?? profile.tls
  const clientCert = parsed.clientCert ?? (parsed.tls === 'off' ? 'off' : profile.clientCert)
  const auth = parsed.auth ?? profile.auth
  if (clientCert !== 'off' && tls === 'off') {
    throw new PgrigError(
      'E_CONFIG_INVALID',
      `${where}: clientCert ${clientCert} needs TLS, but tls is off; set tls to on or required`,
    )
  }
  if (auth === 'cert' && tls === 'off') {
    throw new PgrigError(
      'E_CONFIG_INVALID',
      `${where}: auth cert needs TLS, but tls is off; set tls to on or required`,
    )
  }
  const engine = parsed.engine ?? (parsed.url ? 'external' : 'embedded')
  if (engine === 'external' && !parsed.url) {
    throw new PgrigError(
      'E_CONFIG_INVALID',
      `${where}: engine external needs a url such as postgres://user@host/db`,
    )
  }
  if (parsed.url && engine !== 'external') {
    throw new PgrigError('E_CONFIG_INVALID', `${where}: url is only for engine external; drop url or engine`)
  }
  const user = parsed.user ?? 'app'
  const superuserName = parsed.superuser?.user ?? 'postgres'
  if (superuserName === user) {
    throw new PgrigError(
      'E_CONFIG_INVALID',
      `${where}: user and superuser.user are both "${user}"; the app user is kept apart from the superuser, pick another name`,
    )
  }
  const database = parsed.database ?? 'app'
  if (SYSTEM_DATABASES.has(database)) {
    throw new PgrigError(
      'E_CONFIG_INVALID',
      `${where}: database ${database} is one PostgreSQL itself creates and needs, so pgrig cannot make it the app database; pick another name such as app`,
    )
  }
  const settings = parsed.settings ?? {}
  checkSettings(settings, where)
  const version = parsed.pg ?? parsed.version
  const hba = resolveHba(
    parsed.hba ?? [],
    {
      superuser: superuserName,
      tlsOff: tls === 'off',
      sslOnly: tls === 'required' || clientCert !== 'off' || auth === 'cert',
    },
    where,
  )
  return {
    name,
    engine,
    version: version === undefined ? undefined : String(version),
    url: parsed.url,
    port: parsed.port ?? 0,
    host: parsed.host ?? '127.0.0.1',
    user,
    password: parsed.password,
    database,
    superuser: { user: superuserName, password: parsed.superuser?.password },
    initSql: asList(parsed.initSql).map((file) => path.resolve(baseDir, file)),
    initSqlAs: parsed.initSqlAs ?? 'app',
    settings,
    locale: parsed.locale ?? 'C',
    encoding: parsed.encoding ?? 'UTF8',
    tls,
    clientCert,
    auth,
    hba,
    certDir: parsed.certDir === undefined ? undefined : path.resolve(baseDir, parsed.certDir),
    tmpfs: parsed.tmpfs ?? true,
    dataChecksums: parsed.dataChecksums ?? true,
    startupTimeout: parsed.startupTimeout ?? 30_000,
  }
}

/**
 * Expands a config into the servers to start. Flags given on the command line override every
 * server's options; `versions` starts each server once per version, named `<name>-pg<version>`.
 */
export function resolveServers(
  config: PgrigConfig | undefined,
  overrides: ServerOptions = {},
  baseDir = process.cwd(),
): ServerSpec[] {
  const {
    servers,
    versions,
    policy: _policy,
    services: _services,
    extensions: _extensions,
    ...defaults
  } = config ?? {}
  const { name: selected, ...flagOptions } = overrides
  let entries: [string, ServerOptions][] = Object.entries(servers ?? {})
  if (entries.length === 0) entries = [[selected ?? DEFAULT_SERVER_NAME, {}]]
  else if (selected !== undefined) {
    const match = entries.filter(([name]) => name === selected)
    if (match.length === 0) {
      throw new PgrigError(
        'E_CONFIG_INVALID',
        `no server named "${selected}" in the config (it has: ${entries.map(([n]) => n).join(', ')}); pick one of those or drop --name`,
      )
    }
    entries = match
  }
  const flagVersion = flagOptions.pg ?? flagOptions.version
  const perVersion = flagVersion !== undefined ? [undefined] : (versions ?? [undefined])
  const specs: ServerSpec[] = []
  for (const [name, own] of entries) {
    for (const v of perVersion) {
      const merged: ServerOptions = {
        ...defaults,
        ...own,
        ...flagOptions,
        name: v === undefined ? name : `${name}-pg${v}`,
        settings: { ...defaults.settings, ...own.settings, ...flagOptions.settings },
      }
      if (v !== undefined) {
        delete merged.version
        merged.pg = v
      }
      specs.push(resolveServer(merged, baseDir))
    }
  }
  return specs
}
