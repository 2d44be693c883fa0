/**
 * Chaos proxy overhead: the same PostgreSQL server reached directly and through pgrig's proxy
 * with no toxics (in `postgres` mode, which follows message boundaries so statement faults can be
 * added to open connections, and in raw `tcp` mode), through a bare `socket.pipe` relay in
 * the same process (the floor for any in-process relay) and the same relay in a worker thread,
 * side by side in one run:
 *   - latency of one `SELECT 1` round trip on one connection (p50, p99, and added versus direct)
 *   - throughput of a pgbench-style select-only loop (`SELECT abalance FROM pgbench_accounts
 *     WHERE aid = $1`, prepared, random aid) over several connections for a fixed time
 *   - real `pgbench -S` (a C client) through each path, with the CPU the relay and the machine
 *     spend per transaction
 * Targets: added p50 <= 100 µs, throughput >= 90% of direct.
 *
 * Run: `npm run bench:chaos` (builds dist/, then `node bench/chaos-proxy.mjs`);
 * `--round-trips N` (default 5000 per path), `--seconds S` (default 9 one-second rounds per path, taken in turn; the median round counts), `--clients C`
 * (default 4). The proxy runs in this process, as it does in a test, so it shares the event loop
 * with the clients; other load on the machine shows up directly in the numbers.
 */
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { parseArgs, promisify } from 'node:util'
import { Worker } from 'node:worker_threads'
import { createAccounts, latencies, quantile, throughputs } from './lib/select-load.mjs'
import { createProxy, proxiedUrl } from '../dist/chaos/index.js'
import { startServer } from '../dist/index.js'

const execFileP = promisify(execFile)

const { values: args } = parseArgs({
  options: {
    'round-trips': { type: 'string', default: '5000' },
    seconds: { type: 'string', default: '9' },
    clients: { type: 'string', default: '4' },
  },
})
const ROUND_TRIPS = Number(args['round-trips'])
const SECONDS = Number(args.seconds)
const CLIENTS = Number(args.clients)
const ACCOUNTS = 100_000

const PGBENCH_SECONDS = 4
const PGBENCH_ROUNDS = 3

function findPgbench() {
  const candidates = [
    '/usr/lib/postgresql/18/bin',
    '/usr/lib/postgresql/17/bin',
    '/usr/lib/postgresql/16/bin',
    '/usr/lib/postgresql/15/bin',
  ]
  for (const dir of [...candidates, ...(process.env.PATH ?? '').split(':')]) {
    const file = path.join(dir, 'pgbench')
    if (fs.existsSync(file)) return file
  }
  return undefined
}

/** Busy CPU time of the whole machine so far, in µs (Linux /proc/stat; undefined elsewhere). */
function machineBusyMicros() {
  try {
    const [, ...fields] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/)
    const ticks = fields.map(Number)
    const idle = ticks[3] + ticks[4]
    // USER_HZ is 100 on Linux
    return ((ticks.reduce((a, b) => a + b, 0) - idle) * 1e6) / 100
  } catch {
    return undefined
  }
}

/**
 * Real pgbench select-only against each path (the table above is what pgbench -S reads), with
 * the CPU this process (the relay) and the whole machine spent per transaction.
 */
async function pgbenchRounds(paths) {
  const pgbench = findPgbench()
  if (!pgbench) return undefined
  const rounds = paths.map(() => [])
  for (let round = 0; round < PGBENCH_ROUNDS; round++) {
    for (let p = 0; p < paths.length; p++) {
      const cpu = process.cpuUsage()
      const busy = machineBusyMicros()
      const { stdout } = await execFileP(pgbench, [
        '-S',
        '-n',
        '-c',
        String(CLIENTS),
        '-j',
        '2',
        '-T',
        String(PGBENCH_SECONDS),
        paths[p].url,
      ])
      const used = process.cpuUsage(cpu)
      const busyAfter = machineBusyMicros()
      const transactions = Number(/actually processed: (\d+)/.exec(stdout)?.[1] ?? 0)
      rounds[p].push({
        tps: Number(/tps = ([\d.]+)/.exec(stdout)?.[1] ?? 0),
        relayUser: used.user / transactions,
        relaySystem: used.system / transactions,
        machine: busy === undefined ? NaN : (busyAfter - busy) / transactions,
      })
    }
  }
  const median = (values) =>
    quantile(
      values.sort((a, b) => a - b),
      0.5,
    )
  return rounds.map((r) => ({
    tps: median(r.map((x) => x.tps)),
    relayUser: median(r.map((x) => x.relayUser)),
    relaySystem: median(r.map((x) => x.relaySystem)),
    machine: median(r.map((x) => x.machine)),
  }))
}

/** The bare relay again, in a worker thread: its own event loop, so off the clients' thread. */
async function workerRelay(cluster) {
  const worker = new Worker(
    `const net = require('node:net')
     const { parentPort, workerData } = require('node:worker_threads')
     const relay = net.createServer((client) => {
       const server = net.connect(workerData.port, workerData.host)
       for (const socket of [client, server]) { socket.setNoDelay(true); socket.on('error', () => undefined) }
       client.pipe(server).pipe(client)
     })
     relay.listen(0, '127.0.0.1', () => parentPort.postMessage(relay.address().port))`,
    { eval: true, workerData: { host: cluster.host, port: cluster.port } },
  )
  const port = await new Promise((resolve) => worker.once('message', resolve))
  return { port, close: () => worker.terminate() }
}

const cluster = await startServer({ name: 'bench-chaos' })
try {
  await createAccounts(cluster.url, ACCOUNTS)
  // the floor for any relay living in the test process: two sockets piped, nothing else
  const bare = net.createServer((client) => {
    const server = net.connect(cluster.port, cluster.host)
    for (const socket of [client, server]) {
      socket.setNoDelay(true)
      socket.on('error', () => undefined)
    }
    client.pipe(server).pipe(client)
  })
  await new Promise((resolve) => bare.listen(0, '127.0.0.1', resolve))
  const worker = await workerRelay(cluster)
  const pgProxy = await createProxy({ upstream: cluster })
  const tcpProxy = await createProxy({ upstream: cluster, protocol: 'tcp' })
  const paths = [
    { name: 'direct', url: cluster.url },
    { name: 'proxy (postgres mode)', url: pgProxy.url },
    { name: 'proxy (tcp mode)', url: tcpProxy.url },
    {
      name: 'bare socket.pipe relay',
      url: proxiedUrl(cluster.url, { host: '127.0.0.1', port: bare.address().port }),
    },
    {
      name: 'bare relay, worker',
      url: proxiedUrl(cluster.url, { host: '127.0.0.1', port: worker.port }),
    },
  ]
  const lat = await latencies(paths, ROUND_TRIPS)
  const tps = await throughputs(paths, { clients: CLIENTS, rounds: SECONDS, accounts: ACCOUNTS })
  const pgbenchRuns = await pgbenchRounds(paths)
  await pgProxy.close()
  await tcpProxy.close()
  bare.close()
  await worker.close()

  const directP50 = quantile(lat[0], 0.5)
  const directP99 = quantile(lat[0], 0.99)
  const fmt = (n) => n.toFixed(0).padStart(7)
  console.log(
    `\nchaos proxy overhead: ${ROUND_TRIPS} SELECT 1 round trips per path; select-only loop ${SECONDS} s x ${CLIENTS} clients per path\n`,
  )
  console.log(
    '| path                   | p50 µs | p99 µs | added p50 µs | added p99 µs |     tps | % of direct |',
  )
  console.log(
    '|------------------------|-------:|-------:|-------------:|-------------:|--------:|------------:|',
  )
  paths.forEach((path, i) => {
    const p50 = quantile(lat[i], 0.5)
    const p99 = quantile(lat[i], 0.99)
    console.log(
      `| ${path.name.padEnd(22)} | ${fmt(p50)}| ${fmt(p99)}| ${fmt(p50 - directP50).padStart(12)} | ${fmt(p99 - directP99).padStart(12)} | ${fmt(tps[i])} | ${((100 * tps[i]) / tps[0]).toFixed(1).padStart(10)}% |`,
    )
  })
  const added = quantile(lat[1], 0.5) - directP50
  const ratio = tps[1] / tps[0]
  console.log(
    `\ntargets (postgres mode): added p50 ${added.toFixed(0)} µs <= 100 µs: ${added <= 100 ? 'met' : 'NOT met'}; ` +
      `throughput ${(100 * ratio).toFixed(1)}% >= 90%: ${ratio >= 0.9 ? 'met' : 'NOT met'}`,
  )
  if (pgbenchRuns) {
    console.log(
      `\npgbench -S -n -c ${CLIENTS} -j 2, ${PGBENCH_SECONDS} s per path, ${PGBENCH_ROUNDS} rounds taken in turn (median); a C client, so the relay, not the client, is the Node code under load. CPU µs per transaction: this process (the relay) and the whole machine (/proc/stat):\n`,
    )
    console.log(
      '| path                   |     tps | % of direct | relay user µs | relay sys µs | machine µs |',
    )
    console.log(
      '|------------------------|--------:|------------:|--------------:|-------------:|-----------:|',
    )
    pgbenchRuns.forEach((run, i) => {
      console.log(
        `| ${paths[i].name.padEnd(22)} | ${fmt(run.tps)} | ${((100 * run.tps) / pgbenchRuns[0].tps).toFixed(1).padStart(10)}% | ${run.relayUser.toFixed(1).padStart(13)} | ${run.relaySystem.toFixed(1).padStart(12)} | ${run.machine.toFixed(1).padStart(10)} |`,
      )
    })
  } else {
    console.log('\npgbench not found (Debian: postgresql-client or postgresql-15): pgbench rows skipped')
  }
} finally {
  await cluster.stop()
}
