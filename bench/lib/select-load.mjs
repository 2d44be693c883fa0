/**
 * The load both proxy benches drive, so their figures compare: `SELECT 1` round trips and a
 * pgbench-style select-only loop (`SELECT abalance FROM pgbench_accounts WHERE aid = $1`,
 * prepared, random aid) over node-postgres clients, with the paths taken in turn so drift in
 * machine load hits every path alike.
 */
import { performance } from 'node:perf_hooks'
import pg from 'pg'

export const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]

export async function connect(url) {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  return client
}

/** pgbench's accounts table (and a branch row, so pgbench -S itself accepts the database). */
export async function createAccounts(url, accounts) {
  const setup = await connect(url)
  await setup.query(`CREATE TABLE pgbench_accounts (aid int PRIMARY KEY, bid int, abalance int, filler char(84));
    INSERT INTO pgbench_accounts SELECT g, 1, 0, '' FROM generate_series(1, ${accounts}) g; ANALYZE pgbench_accounts;
    CREATE TABLE pgbench_branches (bid int PRIMARY KEY, bbalance int, filler char(88)); INSERT INTO pgbench_branches VALUES (1, 0, '')`)
  await setup.end()
}

/** `roundTrips` SELECT 1 per path (µs, sorted), in blocks of 250 taken in turn. */
export async function latencies(paths, roundTrips) {
  const clients = await Promise.all(paths.map((p) => connect(p.url)))
  const samples = paths.map(() => [])
  for (const client of clients) for (let i = 0; i < 200; i++) await client.query('SELECT 1')
  const block = 250
  for (let done = 0; done < roundTrips; done += block) {
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

/** Transactions in `seconds` over the (open) clients. */
async function selectOnly(clients, seconds, accounts) {
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
        query.values[0] = 1 + Math.floor(Math.random() * accounts)
        await client.query(query)
        transactions++
      }
    }),
  )
  return transactions
}

/**
 * Median tps per path over `rounds` one-second rounds taken in turn, so a burst of load from
 * other processes does not decide the figure.
 */
export async function throughputs(paths, { clients, rounds, accounts }) {
  const pools = await Promise.all(
    paths.map((p) => Promise.all(Array.from({ length: clients }, () => connect(p.url)))),
  )
  for (const pool of pools) await selectOnly(pool, 0.3, accounts)
  const counts = paths.map(() => [])
  for (let round = 0; round < rounds; round++) {
    for (let p = 0; p < paths.length; p++) counts[p].push(await selectOnly(pools[p], 1, accounts))
  }
  await Promise.all(pools.flat().map((c) => c.end()))
  return counts.map((r) =>
    quantile(
      r.sort((a, b) => a - b),
      0.5,
    ),
  )
}
