import fs from 'node:fs'
import type { Command } from 'commander'
import { serveToxiproxyApi } from '../../chaos/proxy/http-api.js'
import { PgrigError } from '../../errors.js'
import { isLoopbackHost } from '../../http-guard.js'
import { hostNames } from './serve.js'

export function registerChaos(program: Command): void {
  const chaos = program
    .command('chaos')
    .description('fault injection: network proxy with a Toxiproxy-compatible API')
  chaos
    .command('serve')
    .description(
      'serve the Toxiproxy-compatible HTTP API (Toxiproxy clients and scripts work unchanged; ' +
        'toxic types pg_error, pg_delay, pg_ambiguous_commit, pg_refuse_connection add PostgreSQL-aware faults)',
    )
    .option('--host <host>', 'address the API listens on (beyond loopback only if given)', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 picks a free one)', '8474')
    .option(
      '--allow-remote-listen',
      'let proxies listen beyond loopback (refused otherwise: such a proxy opens its upstream to other machines)',
    )
    .option(
      '--allow-host <names>',
      'host names (comma-separated) clients may reach the API by besides its address, e.g. a compose service',
    )
    .option('--config <file>', "proxies to create at start: Toxiproxy's -config JSON (an array of proxies)")
    .action(
      async (flags: {
        host: string
        port: string
        config?: string
        allowRemoteListen?: boolean
        allowHost?: string
      }) => {
        const port = Number(flags.port)
        if (!/^\d+$/.test(flags.port) || port > 65535) {
          throw new PgrigError(
            'E_USAGE',
            `--port ${flags.port} is not a port number; pass 0-65535 (0 picks a free port)`,
          )
        }
        const proxies = flags.config === undefined ? undefined : readProxyConfig(flags.config)
        const api = await serveToxiproxyApi({
          host: flags.host,
          port,
          allowRemoteListen: flags.allowRemoteListen === true,
          ...(flags.allowHost !== undefined ? { allowedHosts: hostNames(flags.allowHost) } : {}),
        })
        if (proxies !== undefined) {
          const reply = await api.handle('POST', '/populate', proxies)
          if (reply.status >= 400) {
            await api.close()
            const error = (reply.body as { error?: string } | undefined)?.error ?? reply.text?.trim()
            throw new PgrigError(
              'E_USAGE',
              `--config ${flags.config}: ${error}; fix that proxy (name, listen host:port, upstream host:port)`,
            )
          }
        }
        process.stdout.write(`pgrig chaos: Toxiproxy API listening on ${api.url}\n`)
        if (!isLoopbackHost(flags.host)) {
          process.stderr.write(
            `pgrig chaos: the API listens on ${flags.host}, beyond this machine: it has no authentication (like Toxiproxy), so whoever reaches it can add proxies and faults; only bind it to a network you trust\n`,
          )
        }
        for (const proxy of api.proxies.values()) {
          process.stdout.write(`pgrig chaos: proxy ${proxy.name} on ${proxy.listen} -> ${proxy.upstream}\n`)
        }
        await new Promise<void>((resolve) => {
          const stop = () => resolve()
          process.once('SIGINT', stop)
          process.once('SIGTERM', stop)
        })
        await api.close()
      },
    )
}

/** Toxiproxy's `-config` file: read and checked here so a bad file fails before anything listens. */
function readProxyConfig(file: string): string {
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (error) {
    throw new PgrigError(
      'E_USAGE',
      `--config ${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}); pass a JSON file with an array of proxies`,
    )
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    throw new PgrigError(
      'E_USAGE',
      `--config ${file} is not JSON (${(error as Error).message}); pass an array of proxies like [{"name":"pg","listen":"127.0.0.1:0","upstream":"127.0.0.1:5432"}]`,
    )
  }
  if (!Array.isArray(parsed)) {
    throw new PgrigError(
      'E_USAGE',
      `--config ${file} is not an array of proxies; write it like [{"name":"pg","listen":"127.0.0.1:0","upstream":"127.0.0.1:5432"}]`,
    )
  }
  return text
}
