import type { Command } from 'commander'
import { startServers, type StartedServer } from '../../servers/start-server.js'
import { connectExternal } from '../../servers/external.js'
import { closeOwnedRun } from '../../servers/run.js'
import type { ServerInfo } from '../../servers/server-info.js'
import { assertPostgresUrl } from '../../databases/guard.js'
import { PgrigError } from '../../errors.js'
import { isLoopbackHost } from '../../http-guard.js'
import { DEFAULT_SERVE_PORT, serveOptionsFromEnv, startServe, type Serving } from '../../serve/index.js'
import { serversFromFlags, type ServerFlags } from '../server-flags.js'
import { parseLibpqUrl } from '../../servers/libpq-url.js'

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
    allowedHosts?: string[] | undefined
  },
): Promise<Serving> {
  const env = serveOptionsFromEnv()
  if (server.engine === 'external' && !flags.allowExternal) refuseExternal(server.url)
  const serving = await startServe({
    ...env,
    server,
    allowExternal: flags.allowExternal,
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
    .option('--quiet', 'print only the API address')
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
      const spec = specs[0]
      if (!spec) throw new PgrigError('E_CONFIG_INVALID', 'the config names no server to serve')
      const started = Date.now()
      let startedServer: StartedServer | undefined
      let serving: Serving | undefined
      try {
        let server: ServerInfo
        if (spec.engine === 'external') server = await connectExternal(spec)
        else {
          ;[startedServer] = await startServers([spec], {
            detached: false,
            explicitName: flags.name !== undefined,
          })
          server = startedServer!.info
        }
        serving = await serveOver(server, {
          port,
          host: flags.host,
          allowExternal: flags.allowExternal,
          allowedHosts,
        })
        const lines = flags.quiet
          ? [serving.baseUrl]
          : [
              `pgrig: IntegreSQL API on ${serving.url} over PostgreSQL ${server.version} on ${server.host}:${server.port} (ready in ${Date.now() - started} ms)`,
              `  INTEGRESQL_CLIENT_BASE_URL=${serving.baseUrl}`,
              'Stop: Ctrl-C',
            ]
        process.stderr.write(lines.join('\n') + '\n')
        await untilSignal()
      } finally {
        await serving?.close()
        await startedServer?.stop()
        closeOwnedRun()
      }
    })
}
