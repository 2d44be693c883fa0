import fs from 'node:fs'
import os from 'node:os'
import { listRuns } from '../servers/run-dir.js'
import type { ServerInfo } from '../servers/server-info.js'
import { serversUsed } from '../databases/servers-used.js'
import type { Environment, ServerEnvironment } from './results.js'
import { parseLibpqUrl } from '../servers/libpq-url.js'

/** Settings that only say where things live or how the server was told to listen: noise in a report. */
const UNINTERESTING = new Set([
  'config_file',
  'data_directory',
  'hba_file',
  'ident_file',
  'unix_socket_directories',
  'listen_addresses',
  'port',
  'application_name',
  'client_encoding',
  'ssl_cert_file',
  'ssl_key_file',
  'ssl_ca_file',
  'external_pid_file',
])

let cachedPgrigVersion: string | undefined
export function pgrigVersion(): string {
  if (cachedPgrigVersion) return cachedPgrigVersion
  // dist/report/ and src/report/ both sit two levels below package.json.
  const file = new URL('../../package.json', import.meta.url)
  try {
    cachedPgrigVersion = (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version
  } catch {
    cachedPgrigVersion = 'unknown'
  }
  return cachedPgrigVersion
}

function ciName(env: NodeJS.ProcessEnv): string | null {
  if (env.GITHUB_ACTIONS) return 'GitHub Actions'
  if (env.GITLAB_CI) return 'GitLab CI'
  if (env.JENKINS_URL) return 'Jenkins'
  if (env.CI) return 'CI'
  return null
}

interface ServerTarget {
  name: string
  url: string
  ssl: { mode?: string; rootCert?: string; cert?: string; key?: string }
}

/** The servers `pgrig run` put in the environment: `PGRIG_<NAME>_URL` and friends. */
export function serverTargets(env: NodeJS.ProcessEnv): ServerTarget[] {
  const targets: ServerTarget[] = []
  for (const [key, url] of Object.entries(env)) {
    const match = /^PGRIG_([A-Z0-9_]+)_URL$/.exec(key)
    if (!match || !url || !/^postgres(ql)?:\/\//.test(url)) continue
    // PGRIG_<NAME>_SUPERUSER_URL is the superuser of server <NAME>, not a server of its own.
    const superuserOf = /^(.+)_SUPERUSER$/.exec(match[1] as string)?.[1]
    if (superuserOf && env[`PGRIG_${superuserOf}_URL`]) continue
    const prefix = `PGRIG_${match[1]}_`
    targets.push({
      name: (match[1] as string).toLowerCase().replace(/_/g, '-'),
      url,
      ssl: {
        mode: env[`${prefix}SSLMODE`],
        rootCert: env[`${prefix}SSLROOTCERT`],
        cert: env[`${prefix}SSLCERT`],
        key: env[`${prefix}SSLKEY`],
      },
    })
  }
  return targets.sort((a, b) => a.name.localeCompare(b.name))
}

function stateOf(url: URL): ServerInfo | undefined {
  try {
    return listRuns()
      .flatMap((run) => run.servers)
      .find((server) => String(server.port) === url.port && server.database === url.pathname.slice(1))
  } catch {
    return undefined
  }
}

async function describeServer(target: ServerTarget, known?: ServerInfo): Promise<ServerEnvironment> {
  const url = parseLibpqUrl(target.url)
  const state = known ?? stateOf(url)
  const profile: ServerEnvironment['profile'] = state
    ? state.clientCert !== 'off'
      ? 'client-cert'
      : state.tls
        ? 'tls'
        : 'plain'
    : target.ssl.cert
      ? 'client-cert'
      : target.ssl.mode
        ? 'tls'
        : 'plain'
  const described: ServerEnvironment = {
    name: target.name,
    version: state?.version ?? null,
    profile,
    engine: state?.engine ?? null,
    address: `${url.hostname}:${url.port}`,
    settings: {},
  }
  const read = (file?: string) => (file ? fs.readFileSync(file, 'utf8') : undefined)
  // Loaded only when there is a server to ask: most unit-test runs have none.
  const { default: pg } = await import('pg')
  const client = new pg.Client({
    connectionString: target.url,
    connectionTimeoutMillis: 3000,
    ssl: target.ssl.mode
      ? { ca: read(target.ssl.rootCert), cert: read(target.ssl.cert), key: read(target.ssl.key) }
      : undefined,
  })
  client.on('error', () => {})
  try {
    await client.connect()
    const version = await client.query<{ v: string }>(`SELECT current_setting('server_version') AS v`)
    described.version = version.rows[0]?.v ?? described.version
    const settings = await client.query<{ name: string; setting: string; unit: string | null }>(
      `SELECT name, setting, unit FROM pg_settings
        WHERE source NOT IN ('default', 'override', 'client', 'session') ORDER BY name`,
    )
    for (const row of settings.rows) {
      if (UNINTERESTING.has(row.name)) continue
      described.settings[row.name] = row.unit ? `${row.setting} ${row.unit}` : row.setting
    }
  } catch {
    // An unreachable server is reported with what the state file knew; the tests say the rest.
  } finally {
    await client.end().catch(() => {})
  }
  return described
}

/**
 * Adds the servers pgrig's own test runs used in this process (the Vitest plugin's server when no
 * `pgrig run` exported one), so a report names the PostgreSQL its tests really ran on.
 */
export async function withServersUsed(environment: Environment): Promise<Environment> {
  const seen = new Set(environment.servers.map((s) => s.address))
  const extra = serversUsed().filter((server) => !seen.has(`${server.host}:${server.port}`))
  if (extra.length === 0) return environment
  const described = await Promise.all(
    extra.map((server) =>
      describeServer(
        {
          name: server.name,
          url: server.url,
          ssl: server.tls
            ? {
                mode: server.tls.sslmode,
                rootCert: server.tls.caFile ?? undefined,
                cert: server.tls.certFile ?? undefined,
                key: server.tls.keyFile ?? undefined,
              }
            : {},
        },
        server,
      ),
    ),
  )
  return { ...environment, servers: [...environment.servers, ...described] }
}

/** What a reader needs to reproduce the run: pgrig, Node, OS, and each server's version, profile and settings. */
export async function collectEnvironment(
  env: NodeJS.ProcessEnv = process.env,
  vitest: string | null = null,
): Promise<Environment> {
  return {
    pgrig: pgrigVersion(),
    vitest,
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    arch: process.arch,
    cpus: os.availableParallelism(),
    ci: ciName(env),
    servers: await Promise.all(serverTargets(env).map((target) => describeServer(target))),
  }
}

/**
 * The major a run's results are filed under: `PGRIG_PG_VERSION` if set, else the major of the server
 * `PGPORT` points at (a run with several versions), else of the first server, else null.
 */
export function pgVersionOf(environment: Environment, env: NodeJS.ProcessEnv = process.env): string | null {
  return (
    env.PGRIG_PG_VERSION ||
    environment.servers
      .find((s) => s.version && s.address.endsWith(`:${env.PGPORT}`))
      ?.version?.split('.')[0] ||
    environment.servers.find((s) => s.version)?.version?.split('.')[0] ||
    null
  )
}
