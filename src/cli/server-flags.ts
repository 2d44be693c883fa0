import path from 'node:path'
import { Option, type Command } from 'commander'
import { loadConfig, type LoadedConfig } from '../config/load.js'
import { resolveServers, type ServerSpec } from '../config/resolve.js'
import { resolveServices, type ServiceSpec } from '../config/services.js'
import type { ServerOptions } from '../config/schema.js'
import { PgrigError } from '../errors.js'

const collect = (value: string, previous: string[] = []) => [...previous, value]

/** The per-server options as kebab-case flags, shared by `up` and `run`. */
export function addServerFlags(command: Command): Command {
  return command
    .option('--config <file>', 'config file (default: pgrig.config.{ts,js,json} here)')
    .option('--name <name>', 'server name (with a config: start only that server)')
    .option('--pg <version>', 'PostgreSQL major or version, e.g. 17 or 16.4 (default: newest)')
    .addOption(new Option('--engine <engine>', 'where binaries come from').choices(['embedded', 'system']))
    .option('--url <url>', 'an external server pgrig does not run (never started, stopped or altered)')
    .option('--port <port>', 'TCP port (default: a free one)')
    .option('--host <host>', 'loopback address to listen on (127.0.0.1, localhost, ::1)')
    .option('--user <user>', 'app user (default: app)')
    .option('--password <password>', 'app password (default: generated)')
    .option('--database <database>', 'app database (default: app)')
    .option('--superuser <user>', 'superuser name (default: postgres)')
    .option('--superuser-password <password>', 'superuser password (default: generated)')
    .option('--profile <profile>', 'plain | tls | client-cert')
    .option('--tls <mode>', 'off | on | required')
    .option('--client-cert <mode>', 'off | verify-ca | verify-full')
    .option('--auth <method>', 'scram-sha-256 | md5 | trust | cert')
    .option('--init-sql <path>', 'SQL/sh file or folder run after start (repeatable)', collect)
    .option('--init-sql-as <role>', 'who runs the init scripts: app (default) | superuser')
    .option('--cert-dir <dir>', 'where certificates are written (a CA there is reused)')
    .option('--setting <key=value>', 'postgresql.conf setting (repeatable)', collect)
    .option('--locale <locale>', 'initdb locale (default: C)')
    .option('--encoding <encoding>', 'database encoding (default: UTF8)')
    .option('--no-tmpfs', 'keep the data dir on disk instead of /dev/shm')
    .option('--startup-timeout <ms>', 'how long to wait for the server to accept connections')
}

export interface ServerFlags {
  config?: string
  name?: string
  pg?: string
  engine?: 'embedded' | 'system'
  url?: string
  port?: string
  host?: string
  user?: string
  password?: string
  database?: string
  superuser?: string
  superuserPassword?: string
  profile?: string
  tls?: string
  clientCert?: string
  auth?: string
  initSql?: string[]
  initSqlAs?: string
  certDir?: string
  setting?: string[]
  locale?: string
  encoding?: string
  tmpfs?: boolean
  startupTimeout?: string
}

function parseSettings(pairs: string[] | undefined): Record<string, string> | undefined {
  if (!pairs) return undefined
  const settings: Record<string, string> = {}
  for (const pair of pairs) {
    const at = pair.indexOf('=')
    if (at <= 0)
      throw new PgrigError(
        'E_USAGE',
        `--setting ${pair} is not key=value; write e.g. --setting work_mem=64MB`,
      )
    settings[pair.slice(0, at).trim()] = pair.slice(at + 1).trim()
  }
  return settings
}

function numberFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n)) throw new PgrigError('E_USAGE', `${flag} ${value} is not a whole number`)
  return n
}

/** Flags become server options; only the flags given override the config. */
export function flagsToOptions(flags: ServerFlags): ServerOptions {
  const options: Record<string, unknown> = {
    name: flags.name,
    pg: flags.pg,
    engine: flags.engine,
    url: flags.url,
    port: numberFlag('--port', flags.port),
    host: flags.host,
    user: flags.user,
    password: flags.password,
    database: flags.database,
    profile: flags.profile,
    tls: flags.tls,
    clientCert: flags.clientCert,
    auth: flags.auth,
    // Flag paths are relative to where the user typed them, not to the config file.
    initSql: flags.initSql?.map((file) => path.resolve(file)),
    initSqlAs: flags.initSqlAs,
    certDir: flags.certDir && path.resolve(flags.certDir),
    settings: parseSettings(flags.setting),
    locale: flags.locale,
    encoding: flags.encoding,
    tmpfs: flags.tmpfs === false ? false : undefined,
    startupTimeout: numberFlag('--startup-timeout', flags.startupTimeout),
  }
  if (flags.superuser || flags.superuserPassword) {
    options.superuser = { user: flags.superuser, password: flags.superuserPassword }
  }
  for (const key of Object.keys(options)) if (options[key] === undefined) delete options[key]
  return options as ServerOptions
}

const loads = new Map<string, Promise<LoadedConfig | undefined>>()

/** The config file, loaded once per command however many parts of it the command reads. */
export function configOf(flags: { config?: string }): Promise<LoadedConfig | undefined> {
  const key = flags.config ?? ''
  let loading = loads.get(key)
  if (!loading) loads.set(key, (loading = loadConfig(flags.config)))
  return loading
}

/** The servers a `up`/`run` invocation asks for: config file servers, with flags on top. */
export async function serversFromFlags(flags: ServerFlags): Promise<ServerSpec[]> {
  const loaded = await configOf(flags)
  const overrides = flagsToOptions(flags)
  const baseDir = loaded ? path.dirname(loaded.file) : process.cwd()
  return resolveServers(loaded?.config, overrides, baseDir)
}

/** The config's `services`, in `after` order (none without a config, or with `--no-services`). */
export async function servicesFromFlags(flags: {
  config?: string
  services?: boolean
}): Promise<ServiceSpec[]> {
  if (flags.services === false) return []
  const loaded = await configOf(flags)
  if (!loaded) return []
  return resolveServices(loaded.config.services, path.dirname(loaded.file))
}
