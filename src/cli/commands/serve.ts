import type { Command } from 'commander'
import { startServers, type StartedServer } from '../../servers/start-server.js'
import { connectExternal } from '../../servers/external.js'
import { closeOwnedRun, joinedRun } from '../../servers/run.js'
import { connectionEnv } from '../../servers/connection-env.js'
import { checkPrograms } from '../../services/service.js'
import { startServices, type StartedServices } from '../../services/services.js'
import type { ServerInfo } from '../../servers/server-info.js'
import { assertPostgresUrl } from '../../databases/guard.js'
import { PgrigError } from '../../errors.js'
import { isLoopbackHost } from '../../http-guard.js'
import { DEFAULT_SERVE_PORT, serveOptionsFromEnv, startServe, type Serving } from '../../serve/index.js'
import { configOf, servicesFromFlags, serversFromFlags, type ServerFlags } from '../server-flags.js'
import { parseLibpqUrl } from '../../servers/libpq-url.js'
import { DEFAULT_SERVER_NAME } from '../../config/resolve.js'
import { describeServer } from '../../run/describe.js'
import { pgrigEnv, sharedMajor } from '../../run/env.js'
import { describeServices } from '../print.js'

interface ServeFlags {
  port?: string
  host?: string
  url?: string
  allowExternal?: boolean
  pg?: string
  engine?: 'embedded' | 'system'
  config?: string
  name?: string
  quiet?: boolean
  json?: boolean
  services?: boolean
  untilStdinCloses?: boolean
  allowHost?: string
}

function refuseExternal(url: string): never {
  const host = parseLibpqUrl(url).host
  throw new PgrigError(
    'E_UNSAFE_TARGET',
    `refusing the server at ${host} from --url: pgrig did not start it and could be pointed at real data; add --allow-external to let pgrig create only its own pgrig_* databases there, or drop --url and let pgrig start a server`,
  )
}

function portFlag(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const port = Number(value)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new PgrigError(
      'E_USAGE',
      `--port ${value} is not a TCP port; give a number from 0 (a free one) to 65535`,
    )
  }
  return port
}

/** The API over one server `run --serve` or `serve` already has; INTEGRESQL_* variables fill what flags leave out. */
export async function serveOver(
  server: ServerInfo,
  flags: {
    port?: number | undefined
    host?: string | undefined
    allowExternal?: boolean | undefined
    config?: string | undefined
    allowedHosts?: string[] | undefined
  },
): Promise<Serving> {
  const env = serveOptionsFromEnv()
  if (server.engine === 'external' && !flags.allowExternal) refuseExternal(server.url)
  const serving = await startServe({
    ...env,
    server,
    allowExternal: flags.allowExternal,
    extensions: await configExtensions(flags.config),
    ...(flags.port !== undefined ? { port: flags.port } : {}),
    ...(flags.host !== undefined ? { host: flags.host } : {}),
    ...(flags.allowedHosts !== undefined ? { allowedHosts: flags.allowedHosts } : {}),
  })
  if (!isLoopbackHost(serving.host)) {
    process.stderr.write(
      `pgrig: the API listens on ${serving.host}, beyond this machine: it has no authentication (like IntegreSQL), so only bind it to a network you trust\n`,
    )
  }
  return serving
}

/** The config's `extensions`: created by the superuser in every template the API makes. */
async function configExtensions(config: string | undefined): Promise<string[]> {
  const loaded = await configOf({ ...(config !== undefined ? { config } : {}) })
  return (loaded?.config as { extensions?: string[] } | undefined)?.extensions ?? []
}

/**
 * Resolves when stdin reaches its end: the process holding its write end (a test runner that
 * started `pgrig serve --until-stdin-closes`) exited, however it exited, SIGKILL included.
 */
function stdinClosed(): Promise<'stdin'> {
  return new Promise((resolve) => {
    process.stdin.on('data', () => {})
    process.stdin.on('end', () => resolve('stdin'))
    process.stdin.on('close', () => resolve('stdin'))
    process.stdin.on('error', () => resolve('stdin'))
    process.stdin.resume()
  })
}

/** `--allow-host a,b`: the names, or undefined when not given. */
export function hostNames(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined
  const names = value
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean)
  const bad = names.find((name) => !/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?\.?$/i.test(name))
  if (bad !== undefined || names.length === 0) {
    throw new PgrigError(
      'E_USAGE',
      `--allow-host ${JSON.stringify(value)}: ${bad === undefined ? 'no name given' : `${JSON.stringify(bad)} is not a host name`}; pass names like integresql,serve.ci.internal`,
    )
  }
  return names
}

function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
    const handlers = signals.map((sig) => {
      const handler = () => {
        for (const [s, h] of handlers) process.off(s, h)
        resolve(sig)
      }
      process.on(sig, handler)
      return [sig, handler] as const
    })
  })
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('a server and an IntegreSQL-compatible API over its database pool, until Ctrl-C')
    .option('--port <port>', `API port (default ${DEFAULT_SERVE_PORT}, or INTEGRESQL_PORT; 0: a free one)`)
    .option(
      '--host <host>',
      'API address (default 127.0.0.1, or INTEGRESQL_ADDRESS; beyond loopback only if given)',
    )
    .option(
      '--allow-host <names>',
      'host names (comma-separated) clients may reach the API by besides its address, e.g. a compose service',
    )
    .option('--url <url>', 'an external PostgreSQL to make the databases on (needs --allow-external)')
    .option('--allow-external', 'let pgrig create its own pgrig_* databases on the --url server')
    .option('--pg <version>', 'PostgreSQL major or version of the server pgrig starts (default: newest)')
    .option('--engine <engine>', 'where binaries come from: embedded | system')
    .option('--config <file>', 'config file (default: pgrig.config.{ts,js,json} here)')
    .option('--name <name>', 'with a config: the server to serve')
    .option('--quiet', 'print only the API address (on stdout)')
    .option(
      '--json',
      'print one JSON line on stdout when ready: the API address and the env pgrig run exports',
    )
    .option('--no-services', "start none of the config's services")
    .option(
      '--until-stdin-closes',
      'also stop when stdin closes (the process holding it exited, SIGKILL included)',
    )
    .action(async (flags: ServeFlags) => {
      const port = portFlag(flags.port)
      const allowedHosts = hostNames(flags.allowHost)
      serveOptionsFromEnv() // a wrong INTEGRESQL_* variable stops the command before a server starts
      if (flags.url !== undefined) {
        assertPostgresUrl(flags.url, '--url')
        if (!flags.allowExternal) refuseExternal(flags.url)
      }
      const serverFlags: ServerFlags = {}
      for (const key of ['url', 'pg', 'engine', 'config', 'name'] as const) {
        if (flags[key] !== undefined) Object.assign(serverFlags, { [key]: flags[key] })
      }
      const specs = await serversFromFlags(serverFlags)
      const serviceSpecs = flags.url !== undefined ? [] : await servicesFromFlags(flags)
      if (!specs[0]) throw new PgrigError('E_CONFIG_INVALID', 'the config names no server to serve')
      checkPrograms(serviceSpecs)
      const ownerGone = flags.untilStdinCloses ? stdinClosed() : undefined
      const started = Date.now()
      let startedServers: StartedServer[] = []
      let services: StartedServices | undefined
      let serving: Serving | undefined
      try {
        let servers: ServerInfo[]
        if (specs[0].engine === 'external') servers = [await connectExternal(specs[0])]
        else {
          // Servers and services share one run, so they stop (and are reaped) together.
          const run = serviceSpecs.length === 0 ? undefined : await joinedRun({ detached: false })
          startedServers = await startServers(specs, {
            detached: false,
            explicitName: flags.name !== undefined || specs.some((s) => s.name !== DEFAULT_SERVER_NAME),
            ...(run ? { run } : {}),
          })
          servers = startedServers.map((s) => s.info)
          services = await startServices(serviceSpecs, {
            ...(run ? { run } : {}),
            processEnv: connectionEnv(servers),
          })
        }
        const server = servers[0]!
        serving = await serveOver(server, {
          port,
          host: flags.host,
          allowExternal: flags.allowExternal,
          config: flags.config,
          allowedHosts,
        })
        if (flags.json) {
          const env = pgrigEnv({
            servers,
            serveUrl: serving.baseUrl,
            env: services?.env,
            runId: startedServers[0]?.runId,
            pgVersion: sharedMajor(servers.map((s) => s.version)),
          })
          const out = { baseUrl: serving.baseUrl, version: server.version, env }
          process.stdout.write(JSON.stringify(out) + '\n')
        } else if (flags.quiet) process.stdout.write(serving.baseUrl + '\n')
        else {
          const others = [
            ...servers.slice(1).map(describeServer),
            ...describeServices(services?.list.map((s) => s.info) ?? []),
          ]
          const lines = [
            `pgrig: IntegreSQL API on ${serving.url} over PostgreSQL ${server.version} on ${server.host}:${server.port} (ready in ${Date.now() - started} ms)`,
            ...(others.length ? [`  also up: ${others.join(', ')}`] : []),
            `  INTEGRESQL_CLIENT_BASE_URL=${serving.baseUrl}`,
            'Stop: Ctrl-C',
          ]
          process.stderr.write(lines.join('\n') + '\n')
        }
        await Promise.race([untilSignal(), ...(ownerGone ? [ownerGone] : [])])
      } finally {
        await serving?.close()
        await Promise.all([...startedServers.map((s) => s.stop()), services?.stop()])
        closeOwnedRun()
      }
      // stdin, when watched, would keep the process alive.
      if (ownerGone) process.stdin.destroy()
    })
}
