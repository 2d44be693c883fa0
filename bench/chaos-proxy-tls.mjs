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
import pg from 'pg'
import { createProxy } from '../dist/chaos/index.js'
import { startCluster } from '../dist/index.js'

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

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]

async function connect(url) {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  return client
}

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

async function latencies(paths) {
  const clients = await Promise.all(paths.map((p) => connect(p.url)))
  const samples = paths.map(() => [])
  for (const client of clients) for (let i = 0; i < 200; i++) await client.query('SELECT 1')
  const block = 250
  for (let done = 0; done < ROUND_TRIPS; done += block) {
    for (let p = 0; p < paths.length; p++) {
      for (let i = 0; i < block; i++) {
        const start = performance.now()
        await clients[p].query('SELECT 1')
        samples[p].push((performance.now() - start) * 1000)
      }
    }
  }
  await Promise.all(clients.map((c) => c.end()))
  return samples.map((s) => s.sort((a, b) => a - b))
}

async function selectOnly(clients, seconds) {
  const deadline = performance.now() + seconds * 1000
  let transactions = 0
  await Promise.all(
    clients.map(async (client) => {
      const query = {
        name: 'select_only',
        text: 'SELECT abalance FROM pgbench_accounts WHERE aid = $1',
        values: [0],
      }
      while (performance.now() < deadline) {
        query.values[0] = 1 + Math.floor(Math.random() * ACCOUNTS)
        await client.query(query)
        transactions++
      }
    }),
  )
  return transactions
}

async function throughputs(paths) {
  const pools = await Promise.all(
    paths.map((p) => Promise.all(Array.from({ length: CLIENTS }, () => connect(p.url)))),
  )
  for (const pool of pools) await selectOnly(pool, 0.3)
  const rounds = paths.map(() => [])
  for (let round = 0; round < SECONDS; round++) {
    for (let p = 0; p < paths.length; p++) rounds[p].push(await selectOnly(pools[p], 1))
  }
  await Promise.all(pools.flat().map((c) => c.end()))
  return rounds.map((r) =>
    quantile(
      r.sort((a, b) => a - b),
      0.5,
    ),
  )
}

const cluster = await startCluster({ name: 'bench-chaos-tls', tls: 'on' })
try {
  const setup = await connect(cluster.url)
  await setup.query(`CREATE TABLE pgbench_accounts (aid int PRIMARY KEY, bid int, abalance int, filler char(84));
    INSERT INTO pgbench_accounts SELECT g, 1, 0, '' FROM generate_series(1, ${ACCOUNTS}) g; ANALYZE pgbench_accounts`)
  await setup.end()
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
  const lat = await latencies(paths)
  const tps = await throughputs(paths)
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
