/**
 * Isolation benchmark: what giving every test a fresh database costs, on a 20-table schema with
 * 4 000 seed rows and a 500-test synthetic suite (each test inserts, updates and joins a little).
 *
 * Rows, all measured in one run on one server:
 *   - floor: the 500 test bodies on one database with no isolation at all (the cost of the tests);
 *   - (a) CREATE DATABASE … TEMPLATE per test, no pool (create, connect, test, drop on the critical path);
 *   - (b) PGlite: a new instance per test (create + migrate + seed), and clone() of a prepared one;
 *         both too slow to run 500 times here, so a sample is timed and the suite extrapolated;
 *   - (c) one shared database, TRUNCATE of all tables + seed reload after every test (one worker:
 *         a shared database cannot run tests side by side);
 *   - pgrig's modes (database / transaction / truncate), when the library provides them.
 * Per-test overhead is the median time of the isolation steps alone (setup + teardown around the
 * body), measured one test at a time; suite wall time runs WORKERS workers side by side, as Vitest would.
 *
 * Run: `npm run bench:isolation` (builds dist/, then `node bench/isolation.mjs`). `--tests N` changes
 * the suite size (default 500), `--sample N` the PGlite sample (default 5). The machine's other load
 * shows up in the numbers directly.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { URL } from 'node:url'
import pg from 'pg'
import { PGlite } from '@electric-sql/pglite'
import * as pgrig from '../dist/index.js'
// The pool and its broker are not part of the public API; the bench drives them as pgrig/vitest does.
import { intArg } from './lib/args.mjs'
import { HEAVY_SCHEMA, HEAVY_SEED, ROWS_PER_TABLE, TABLES, tableNames } from './lib/heavy-suite.mjs'
import { startRunDatabases } from '../dist/databases/run-databases.js'
import { startBroker } from '../dist/databases/broker.js'
import { BrokerClient } from '../dist/databases/broker-client.js'

const TESTS = intArg('tests', 500)
const PGLITE_SAMPLE = intArg('sample', 5)
const WORKERS = 2
const SCHEMA = HEAVY_SCHEMA
const SEED = HEAVY_SEED

const TRUNCATE_ALL = `TRUNCATE ${tableNames.join(', ')} RESTART IDENTITY CASCADE`

/**
 * One synthetic test: an insert into a parent and a child table, an update, a join. It brings its
 * own parent row, so it passes on the seeded template and on an emptied (truncated) database alike.
 */
async function testBody(query, n) {
  const child = tableNames[1 + (n % (TABLES - 1))]
  const parent = tableNames[n % (TABLES - 1)]
  const { rows: parents } = await query(`INSERT INTO ${parent} (name, qty) VALUES ($1, 20) RETURNING id`, [
    `parent ${n}`,
  ])
  const parentId = parents[0].id
  await query(`INSERT INTO ${child} (parent_id, name, qty) VALUES ($1, $2, 1)`, [parentId, `test ${n}`])
  await query(`UPDATE ${parent} SET qty = qty + 1 WHERE id = $1`, [parentId])
  const joined = await query(
    `SELECT count(*)::int AS n FROM ${child} c JOIN ${parent} p ON p.id = c.parent_id WHERE p.qty > $1`,
    [10],
  )
  if (joined.rows[0].n < 1) throw new Error(`test ${n} saw no rows: isolation broken`)
}

function stats(samples) {
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
  return { p50: at(0.5), p95: at(0.95), n: sorted.length }
}

const fmt = (ms) =>
  ms === undefined ? '–' : ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0)
const fmtS = (ms) => (ms === undefined ? '–' : (ms / 1000).toFixed(2))

async function connect(url) {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  return client
}

function dbUrl(base, database) {
  const url = new URL(base)
  url.pathname = `/${database}`
  return url.toString()
}

/** Runs tests 0..TESTS-1 on `workers` loops side by side; returns wall time in ms. */
async function runSuite(workers, runOne) {
  let next = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let n = next++; n < TESTS; n = next++) await runOne(n, w)
    }),
  )
  return performance.now() - t0
}

const rows = []
function row(name, fields) {
  rows.push({ name, ...fields })
  console.error(`  ${name}: done`)
}

async function main() {
  console.error(
    `isolation bench: ${TABLES} tables, ${TABLES * ROWS_PER_TABLE} seed rows, ${TESTS} tests, ${WORKERS} workers`,
  )
  const server = await pgrig.startServer({ quiet: true })
  const admin = await connect(server.superuser.url)
  const owner = pg.escapeIdentifier(server.user)
  try {
    // The template every approach starts from.
    await admin.query(`CREATE DATABASE bench_template OWNER ${owner}`)
    const tpl = await connect(dbUrl(server.url, 'bench_template'))
    await tpl.query(SCHEMA)
    await tpl.query(SEED)
    await tpl.end()

    // floor: the bodies alone, one database, no isolation.
    {
      await admin.query(`CREATE DATABASE bench_floor TEMPLATE bench_template OWNER ${owner}`)
      const clients = await Promise.all(
        Array.from({ length: WORKERS }, () => connect(dbUrl(server.url, 'bench_floor'))),
      )
      const wall = await runSuite(WORKERS, (n, w) => testBody((t, p) => clients[w].query(t, p), n))
      const body = []
      for (let n = 0; n < 200; n++) {
        const t0 = performance.now()
        await testBody((t, p) => clients[0].query(t, p), n)
        body.push(performance.now() - t0)
      }
      await Promise.all(clients.map((c) => c.end()))
      await admin.query('DROP DATABASE bench_floor')
      row('floor: test bodies, no isolation', { overhead: 0, body: stats(body).p50, wall })
    }

    // (a) CREATE DATABASE … TEMPLATE per test, no pool.
    {
      const overhead = []
      let seq = 0
      const oneTest = async (n, w, timed) => {
        const name = `bench_a_${w}_${seq++}`
        const t0 = performance.now()
        await admin.query(`CREATE DATABASE ${name} TEMPLATE bench_template OWNER ${owner}`)
        const client = await connect(dbUrl(server.url, name))
        const t1 = performance.now()
        await testBody((t, p) => client.query(t, p), n)
        const t2 = performance.now()
        await client.end()
        await admin.query(`DROP DATABASE ${name}`)
        if (timed) overhead.push(t1 - t0 + (performance.now() - t2))
      }
      for (let n = 0; n < 30; n++) await oneTest(n, 9, true)
      // Two admin sessions, as two workers would have.
      const admin2 = await connect(server.superuser.url)
      const admins = [admin, admin2]
      const wall = await runSuite(WORKERS, async (n, w) => {
        const name = `bench_a_${w}_${seq++}`
        await admins[w].query(`CREATE DATABASE ${name} TEMPLATE bench_template OWNER ${owner}`)
        const client = await connect(dbUrl(server.url, name))
        await testBody((t, p) => client.query(t, p), n)
        await client.end()
        await admins[w].query(`DROP DATABASE ${name}`)
      })
      await admin2.end()
      row('(a) CREATE DATABASE … TEMPLATE per test, no pool', { overhead: stats(overhead).p50, wall })
    }

    // (c) one shared database, TRUNCATE of every table after every test, one worker.
    {
      await admin.query(`CREATE DATABASE bench_shared TEMPLATE bench_template OWNER ${owner}`)
      const client = await connect(dbUrl(server.url, 'bench_shared'))
      const overhead = []
      const t0 = performance.now()
      for (let n = 0; n < TESTS; n++) {
        await testBody((t, p) => client.query(t, p), n)
        const t1 = performance.now()
        await client.query(TRUNCATE_ALL)
        overhead.push(performance.now() - t1)
      }
      const wall = performance.now() - t0
      await client.end()
      await admin.query('DROP DATABASE bench_shared')
      row('(c) one shared database, TRUNCATE all tables per test (1 worker)', {
        overhead: stats(overhead).p50,
        wall,
      })
    }
  } finally {
    await admin.end()
    await server.stop()
  }
  await pgrigRows()

  // (b) PGlite, in-process: sampled, then extrapolated to the whole suite.
  {
    const perTest = []
    for (let n = 0; n < PGLITE_SAMPLE; n++) {
      const t0 = performance.now()
      const db = await PGlite.create()
      await db.exec(SCHEMA)
      await db.exec(SEED)
      const t1 = performance.now()
      await testBody((t, p) => db.query(t, p), n)
      const t2 = performance.now()
      await db.close()
      perTest.push({ overhead: t1 - t0 + (performance.now() - t2), total: performance.now() - t0 })
    }
    const overhead = stats(perTest.map((p) => p.overhead)).p50
    const total = stats(perTest.map((p) => p.total)).p50
    row(`(b) PGlite.create() + migrate + seed per test (${PGLITE_SAMPLE} timed, ×${TESTS})`, {
      overhead,
      wall: total * TESTS,
      extrapolated: true,
    })
  }
  {
    const base = await PGlite.create()
    await base.exec(SCHEMA)
    await base.exec(SEED)
    const perTest = []
    for (let n = 0; n < PGLITE_SAMPLE; n++) {
      const t0 = performance.now()
      const db = await base.clone()
      const t1 = performance.now()
      await testBody((t, p) => db.query(t, p), n)
      const t2 = performance.now()
      await db.close()
      perTest.push({ overhead: t1 - t0 + (performance.now() - t2), total: performance.now() - t0 })
    }
    await base.close()
    const overhead = stats(perTest.map((p) => p.overhead)).p50
    const total = stats(perTest.map((p) => p.total)).p50
    row(`(b) PGlite clone() of a seeded instance per test (${PGLITE_SAMPLE} timed, ×${TESTS})`, {
      overhead,
      wall: total * TESTS,
      extrapolated: true,
    })
  }

  print()
}

/** The bench schema as a migrations folder and seed file, the way a user hands them to pgrig. */
function schemaFiles() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-bench-isolation-'))
  fs.mkdirSync(path.join(dir, 'migrations'))
  fs.writeFileSync(path.join(dir, 'migrations', '001_schema.sql'), SCHEMA)
  fs.writeFileSync(path.join(dir, 'seed.sql'), SEED)
  return dir
}

/** pgrig's modes, through the same broker socket Vitest workers use. */
async function pgrigRows() {
  const dir = schemaFiles()
  const POOL_SIZE = 4
  const session = await startRunDatabases({
    cwd: dir,
    migrations: './migrations',
    seed: './seed.sql',
    pool: { size: POOL_SIZE },
  })
  const broker = await startBroker(
    session.pool,
    path.join(session.runDir, `bench-broker-${process.pid}.sock`),
  )
  const clients = Array.from({ length: WORKERS }, () => new BrokerClient(broker.socketPath))
  const ready = async () => {
    const deadline = Date.now() + 30_000
    while (session.pool.stats().ready < POOL_SIZE && Date.now() < deadline) await sleep(5)
  }
  try {
    // Acquire latency once warm: the pool is full before each acquire, as between two tests of a suite.
    const acquire = []
    for (let i = 0; i < 40; i++) {
      await ready()
      const t0 = performance.now()
      const lease = await clients[0].acquire()
      acquire.push(performance.now() - t0)
      await clients[0].release(lease.name)
    }
    const warm = stats(acquire)
    extras.push({ name: 'pool acquire, warm, p50 (ms)', value: fmt(warm.p50), target: '≤ 1 ms' })
    extras.push({ name: 'pool acquire, warm, p95 (ms)', value: fmt(warm.p95) })
    // The same, but each acquire waits until the previous clone's drop and refill have finished:
    // the broker round trip alone, without background CREATE/DROP DATABASE competing for the 2 cores.
    const idle = []
    for (let i = 0; i < 40; i++) {
      await ready()
      const deadline = Date.now() + 30_000
      while (session.pool.stats().busy > 0 && Date.now() < deadline) await sleep(5)
      const t0 = performance.now()
      const lease = await clients[0].acquire()
      idle.push(performance.now() - t0)
      await clients[0].release(lease.name)
    }
    const quiet = stats(idle)
    extras.push({
      name: 'pool acquire, warm and idle (no create/drop in flight), p50 / p95 (ms)',
      value: `${fmt(quiet.p50)} / ${fmt(quiet.p95)}`,
    })

    // database mode: acquire, connect, test, disconnect, release (the drop runs in the background).
    const overhead = []
    const firstConnect = []
    for (let n = 0; n < 30; n++) {
      await ready()
      const t0 = performance.now()
      const lease = await clients[0].acquire()
      const tc = performance.now()
      const client = await connect(lease.url)
      const t1 = performance.now()
      firstConnect.push(t1 - tc)
      await testBody((t, p) => client.query(t, p), n)
      const t2 = performance.now()
      await client.end()
      await clients[0].release(lease.name)
      overhead.push(t1 - t0 + (performance.now() - t2))
    }
    await ready()
    const suiteAcquire = []
    const wall = await runSuite(WORKERS, async (n, w) => {
      const t0 = performance.now()
      const lease = await clients[w].acquire()
      suiteAcquire.push(performance.now() - t0)
      const client = await connect(lease.url)
      await testBody((t, p) => client.query(t, p), n)
      await client.end()
      await clients[w].release(lease.name)
    })
    row('pgrig database mode (clone per test, pool)', { overhead: stats(overhead).p50, wall })
    extras.push({
      name: 'new connection to the clone (SCRAM over TCP), p50 (ms; part of the database-mode overhead)',
      value: fmt(stats(firstConnect).p50),
    })
    const pressed = stats(suiteAcquire)
    extras.push({
      name: `pool acquire during the ${TESTS}-test suite, p50 / p95 (ms)`,
      value: `${fmt(pressed.p50)} / ${fmt(pressed.p95)}`,
    })

    // Sustained clones per second: tests that do nothing, as fast as the pool can serve them.
    await ready()
    const churn = 200
    let served = 0
    const t0 = performance.now()
    await Promise.all(
      clients.map(async (c) => {
        while (served < churn) {
          served++
          const lease = await c.acquire()
          await c.release(lease.name)
        }
      }),
    )
    const perSecond = churn / ((performance.now() - t0) / 1000)
    extras.push({
      name: `sustained clones per second (${churn} empty tests, ${WORKERS} workers)`,
      value: perSecond.toFixed(0),
    })

    // Per-worker databases for the transaction and truncate modes.
    const workerDbs = await Promise.all(clients.map((c, w) => c.workerDatabase(`bench-${w}`)))

    // transaction mode, as pgrig/vitest runs it: BEGIN before and ROLLBACK after each test on the
    // worker database's connection.
    {
      const conns = await Promise.all(workerDbs.map((l) => connect(l.url)))
      const overhead = []
      for (let n = 0; n < 200; n++) {
        const t0 = performance.now()
        await conns[0].query('BEGIN')
        const t1 = performance.now()
        await testBody((t, p) => conns[0].query(t, p), n)
        const t2 = performance.now()
        await conns[0].query('ROLLBACK')
        overhead.push(t1 - t0 + (performance.now() - t2))
      }
      const wall = await runSuite(WORKERS, async (n, w) => {
        await conns[w].query('BEGIN')
        await testBody((t, p) => conns[w].query(t, p), n)
        await conns[w].query('ROLLBACK')
      })
      await Promise.all(conns.map((c) => c.end()))
      row('pgrig transaction mode (worker database, BEGIN … ROLLBACK per test)', {
        overhead: stats(overhead).p50,
        wall,
      })
    }

    // transaction mode through the in-process endpoint that turns the code's own BEGIN/COMMIT into
    // savepoints (every connection the code opens joins the test's transaction).
    if (typeof pgrig.createTransactionIsolation === 'function') {
      const isolations = await Promise.all(
        workerDbs.map((l) => pgrig.createTransactionIsolation({ url: l.url, runId: session.runId })),
      )
      const conns = await Promise.all(isolations.map((i) => connect(i.url)))
      const overhead = []
      for (let n = 0; n < 200; n++) {
        const t0 = performance.now()
        await isolations[0].beginTest()
        const t1 = performance.now()
        await testBody((t, p) => conns[0].query(t, p), n)
        const t2 = performance.now()
        await isolations[0].endTest()
        overhead.push(t1 - t0 + (performance.now() - t2))
      }
      const wall = await runSuite(WORKERS, async (n, w) => {
        await isolations[w].beginTest()
        await testBody((t, p) => conns[w].query(t, p), n)
        await isolations[w].endTest()
      })
      await Promise.all(conns.map((c) => c.end()))
      await Promise.all(isolations.map((i) => i.close()))
      row('pgrig transaction mode through its savepoint endpoint (createTransactionIsolation)', {
        overhead: stats(overhead).p50,
        wall,
      })
    } else {
      rows.push({ name: 'pgrig transaction mode through its savepoint endpoint', missing: true })
    }

    // truncate mode
    {
      const resets = await Promise.all(
        workerDbs.map((l) => pgrig.createTruncateIsolation({ url: l.url, runId: session.runId })),
      )
      const conns = await Promise.all(workerDbs.map((l) => connect(l.url)))
      for (const r of resets) await r.reset()
      const overhead = []
      for (let n = 0; n < 100; n++) {
        await testBody((t, p) => conns[0].query(t, p), n)
        const t0 = performance.now()
        await resets[0].reset()
        overhead.push(performance.now() - t0)
      }
      const wall = await runSuite(WORKERS, async (n, w) => {
        await testBody((t, p) => conns[w].query(t, p), n)
        await resets[w].reset()
      })
      await Promise.all(conns.map((c) => c.end()))
      await Promise.all(resets.map((r) => r.close()))
      row('pgrig truncate mode (worker database, reset per test)', { overhead: stats(overhead).p50, wall })
    }
  } finally {
    clients.forEach((c) => c.close())
    await broker.close()
    await session.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

function print() {
  const pgliteCreate = rows.find((r) => r.name.startsWith('(b) PGlite.create'))
  const pgliteClone = rows.find((r) => r.name.startsWith('(b) PGlite clone'))
  console.log(
    `\n${TESTS}-test suite, ${TABLES} tables / ${TABLES * ROWS_PER_TABLE} seed rows, ${WORKERS} workers where the approach allows`,
  )
  console.log('(2-core machine shared with other jobs: figures are noisy)\n')
  console.log(
    '| approach | per-test overhead p50 (ms) | suite wall time (s) | vs PGlite clone() | vs PGlite create |',
  )
  console.log('|---|---:|---:|---:|---:|')
  for (const r of rows) {
    if (r.missing) {
      console.log(`| ${r.name} | not available in this build | – | – | – |`)
      continue
    }
    const ratio = (peer) => (peer && r.wall ? `${(peer.wall / r.wall).toFixed(1)}×` : '–')
    console.log(
      `| ${r.name} | ${fmt(r.overhead)} | ${fmtS(r.wall)}${r.extrapolated ? ' (extrapolated)' : ''} | ${ratio(pgliteClone)} | ${ratio(pgliteCreate)} |`,
    )
  }
  if (extras.length) {
    console.log('\n| pool figure | value | target |')
    console.log('|---|---:|---|')
    for (const e of extras) console.log(`| ${e.name} | ${e.value} | ${e.target ?? ''} |`)
  }
}

const extras = []

await main()
