/**
 * pgrig/chaos benchmark, one run, side by side:
 * 1. Per-case cost of isolating property-test cases on one real server (trivial body: insert a row,
 *    count rows): no isolation (the floor; cases see each other's rows), TRUNCATE after each case
 *    (what suites without pgrig commonly do), pgProperty's savepoint per case, and pgProperty's
 *    database clone per case (CREATE DATABASE … TEMPLATE + DROP).
 * 2. verify() on a 100,000-row table with an index: amcheck only, and amcheck plus pgrig's online
 *    page-checksum scan, next to Debian's `pg_amcheck` CLI (PostgreSQL 15, when installed) against
 *    a PostgreSQL 15 server with the same data.
 *
 * Run: `npm run bench:faults` (builds dist/ first). Medians of 5 runs; other load on the machine
 * shows up directly in the numbers.
 */
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import { performance } from 'node:perf_hooks'
import { URL } from 'node:url'
import { promisify } from 'node:util'
import fc from 'fast-check'
import pg from 'pg'
import { startServer } from '../dist/index.js'
import { pgProperty, verify } from '../dist/chaos/index.js'

const execFileP = promisify(execFile)
const RUNS = 5
/** verify() checks objects created after initdb by default; pg_amcheck checks everything unless told. */
const USER_OBJECTS_ONLY = ['-S', 'pg_catalog', '-S', 'information_schema', '-S', 'pg_toast']

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

async function timeRuns(fn) {
  const times = []
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now()
    await fn()
    times.push(performance.now() - started)
  }
  return median(times)
}

async function client(url) {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  return c
}

async function propertyRows(cluster) {
  const setup = await client(cluster.url)
  await setup.query('create table items (id serial primary key, v int)')
  await setup.end()
  const body = async (sql, v) => {
    await sql.query('insert into items (v) values ($1)', [v])
    await sql.query('select count(*) from items')
  }
  const arb = [fc.integer()]
  const cases = { floor: 200, truncate: 200, savepoint: 200, database: 20 }
  const rows = []

  const plain = await client(cluster.url)
  const sqlOf = (c) => ({ query: (t, v) => c.query(t, v) })
  rows.push([
    'no isolation (floor)',
    cases.floor,
    await timeRuns(() =>
      fc.assert(
        fc.asyncProperty(...arb, (v) => body(sqlOf(plain), v)),
        { numRuns: cases.floor },
      ),
    ),
  ])
  rows.push([
    'TRUNCATE after each case',
    cases.truncate,
    await timeRuns(() =>
      fc.assert(
        fc.asyncProperty(...arb, async (v) => {
          await body(sqlOf(plain), v)
          await plain.query('truncate items')
        }),
        { numRuns: cases.truncate },
      ),
    ),
  ])
  await plain.end()
  rows.push([
    'pgProperty, savepoint per case',
    cases.savepoint,
    await timeRuns(() => pgProperty(cluster, arb, body, { numRuns: cases.savepoint })),
  ])
  rows.push([
    'pgProperty, database clone per case',
    cases.database,
    await timeRuns(() => pgProperty(cluster, arb, body, { numRuns: cases.database, isolation: 'database' })),
  ])
  return rows
}

async function seed(cluster) {
  const c = await client(cluster.url)
  await c.query('create table big (id int primary key, note text)')
  await c.query(`insert into big select g, md5(g::text) from generate_series(1, 100000) g`)
  await c.query('vacuum analyze big')
  await c.end()
}

async function verifyRows(cluster, label) {
  return [
    [`verify() amcheck only (${label})`, await timeRuns(() => verify(cluster, { checksums: false }))],
    [`verify() amcheck + checksum scan (${label})`, await timeRuns(() => verify(cluster))],
  ]
}

async function main() {
  console.log(`pgrig/chaos bench — ${new Date().toISOString()}, ${process.version}, median of ${RUNS} runs\n`)
  const cluster = await startServer({ name: 'bench-chaos' })
  try {
    console.log(`PostgreSQL ${cluster.version}\n`)
    console.log('| property-case isolation | cases | total ms | ms per case |')
    console.log('|---|---:|---:|---:|')
    for (const [name, n, ms] of await propertyRows(cluster)) {
      console.log(`| ${name} | ${n} | ${ms.toFixed(1)} | ${(ms / n).toFixed(3)} |`)
    }
    await seed(cluster)
    const verifyTable = await verifyRows(cluster, `PG ${cluster.version.split('.')[0]}`)
    if (fs.existsSync('/usr/lib/postgresql/15/bin/pg_amcheck')) {
      const pg15 = await startServer({ name: 'bench-chaos-15', engine: 'system', pg: 15 })
      try {
        await seed(pg15)
        verifyTable.push(...(await verifyRows(pg15, 'PG 15')))
        const su = new URL(pg15.superuser.url)
        const setup = await client(pg15.superuser.url)
        await setup.query('create extension if not exists amcheck')
        await setup.end()
        const args = [
          '-h',
          su.hostname,
          '-p',
          su.port,
          '-U',
          decodeURIComponent(su.username),
          '-d',
          pg15.database,
        ]
        const env = { ...process.env, PGPASSWORD: decodeURIComponent(su.password), PGSSLMODE: 'disable' }
        verifyTable.push([
          'pg_amcheck --heapallindexed, user schemas (PG 15 CLI)',
          await timeRuns(() =>
            execFileP(
              '/usr/lib/postgresql/15/bin/pg_amcheck',
              [...args, '--heapallindexed', ...USER_OBJECTS_ONLY],
              { env },
            ),
          ),
        ])
      } finally {
        await pg15.stop()
      }
    }
    console.log('\n| corruption check, 100,000-row table + primary key | ms |')
    console.log('|---|---:|')
    for (const [name, ms] of verifyTable) console.log(`| ${name} | ${ms.toFixed(1)} |`)
  } finally {
    await cluster.stop()
  }
}

await main()
