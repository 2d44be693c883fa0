/**
 * What TLS termination costs: one TLS PostgreSQL server reached directly over TLS, through
 * pgrig's proxy passing TLS through (`tls: 'passthrough'`, the default) and through a proxy that
 * terminates it (`tls: 'terminate'`: TLS client to proxy, TLS of its own proxy to server, so
 * statement faults can read the traffic); plus plain TCP direct and through the terminating proxy
 * (a client with sslmode=disable), side by side in one run, no toxics, no faults:
 *   - connection setup: connect (TCP, SSLRequest, TLS handshake(s), SCRAM) + one SELECT 1 (p50, p99)
 *   - latency of one `SELECT 1` round trip on an open connection (p50, p99)
 *   - throughput of a pgbench-style select-only loop over several connections
 *
 * Run: `npm run bench:chaos-tls` (builds dist/, then `node bench/chaos-proxy-tls.mjs`);
 * `--connects N` (default 200 per path), `--round-trips N` (default 3000 per path),
 * `--seconds S` (default 5 one-second rounds per path, taken in turn; the median counts),
 * `--clients C` (default 4). The proxy shares this process's event loop with the clients.
 */
import { performance } from 'node:perf_hooks'
import { URL } from 'node:url'
import { parseArgs } from 'node:util'
import { connect, createAccounts, latencies, quantile, throughputs } from './lib/select-load.mjs'
import { createProxy } from '../dist/chaos/index.js'
import { startServer } from '../dist/index.js'

const { values: args } = parseArgs({
  options: {
    connects: { type: 'string', default: '200' },
    'round-trips': { type: 'string', default: '3000' },
    seconds: { type: 'string', default: '5' },
    clients: { type: 'string', default: '4' },
  },
})
const CONNECTS = Number(args.connects)
const ROUND_TRIPS = Number(args['round-trips'])
const SECONDS = Number(args.seconds)
const CLIENTS = Number(args.clients)
const ACCOUNTS = 10_000

function plain(url) {
  const u = new URL(url)
  u.search = '?sslmode=disable'
  return u.toString()
}

/** Connect + SELECT 1 + end, in interleaved blocks so drift in machine load hits every path alike. */
async function connects(paths) {
  const samples = paths.map(() => [])
  const block = 20
  for (let done = 0; done < CONNECTS; done += block) {
    for (let p = 0; p < paths.length; p++) {
      for (let i = 0; i < block; i++) {
        const start = performance.now()
        const client = await connect(paths[p].url)
        await client.query('SELECT 1')
        samples[p].push((performance.now() - start) * 1000)
        await client.end()
      }
    }
  }
  return samples.map((s) => s.sort((a, b) => a - b))
}

const cluster = await startServer({ name: 'bench-chaos-tls', tls: 'on' })
try {
  await createAccounts(cluster.url, ACCOUNTS)
  const passthrough = await createProxy({ upstream: cluster })
  const terminating = await createProxy({ upstream: cluster, tls: 'terminate' })
  const paths = [
    { name: 'direct, TLS', url: cluster.url },
    { name: 'proxy passthrough, TLS', url: passthrough.url },
    { name: 'proxy terminate, TLS', url: terminating.url },
    { name: 'direct, plain', url: plain(cluster.url) },
    { name: 'proxy terminate, plain', url: plain(terminating.url) },
  ]
  const conn = await connects(paths)
  const lat = await latencies(paths, ROUND_TRIPS)
  const tps = await throughputs(paths, { clients: CLIENTS, rounds: SECONDS, accounts: ACCOUNTS })
  await passthrough.close()
  await terminating.close()

  const fmt = (n) => n.toFixed(0).padStart(8)
  console.log(
    `\nTLS through the chaos proxy: ${CONNECTS} connects, ${ROUND_TRIPS} SELECT 1 round trips per path; select-only ${SECONDS} s x ${CLIENTS} clients per path\n`,
  )
  console.log(
    '| path                   | connect p50 µs | connect p99 µs | SELECT 1 p50 µs | SELECT 1 p99 µs |      tps | % of direct TLS |',
  )
  console.log(
    '|------------------------|---------------:|---------------:|----------------:|----------------:|---------:|----------------:|',
  )
  paths.forEach((path, i) => {
    console.log(
      `| ${path.name.padEnd(22)} | ${fmt(quantile(conn[i], 0.5)).padStart(14)} | ${fmt(quantile(conn[i], 0.99)).padStart(14)} | ${fmt(quantile(lat[i], 0.5)).padStart(15)} | ${fmt(quantile(lat[i], 0.99)).padStart(15)} | ${fmt(tps[i])} | ${((100 * tps[i]) / tps[0]).toFixed(1).padStart(14)}% |`,
    )
  })
} finally {
  await cluster.stop()
}
