import type { Command } from 'commander'
import { serveToxiproxyApi } from '../../chaos/proxy/http-api.js'
import { PgrigError } from '../../errors.js'

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
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 picks a free one)', '8474')
    .action(async (flags: { host: string; port: string }) => {
      const port = Number(flags.port)
      if (!/^\d+$/.test(flags.port) || port > 65535) {
        throw new PgrigError(
          'E_USAGE',
          `--port ${flags.port} is not a port number; pass 0-65535 (0 picks a free port)`,
        )
      }
      const api = await serveToxiproxyApi({ host: flags.host, port })
      process.stdout.write(`pgrig chaos: Toxiproxy API listening on ${api.url}\n`)
      await new Promise<void>((resolve) => {
        const stop = () => resolve()
        process.once('SIGINT', stop)
        process.once('SIGTERM', stop)
      })
      await api.close()
    })
}
