/**
 * Overhead benchmark: what a fresh database per test costs a whole `vitest run`, next to the same
 * tests with no isolation at all (issue 16).
 *
 * Two suites, each run as a whole Vitest command (4 files, 2 workers), on one server:
 *   - trivial: N tests (default 200) that connect with `pg`, count, insert and disconnect;
 *   - isolation: N tests (default 500) on a 20-table, 4,000-row schema (the body of bench/isolation.mjs),
 *     each on its own `pg` connection.
 * Rows per suite: no isolation (one shared database, nothing reset), each pgrig mode
 * (database / transaction / truncate, through the `pgrig/vitest` plugin), and `CREATE DATABASE …
 * TEMPLATE` per test without a pool (create, connect, test, drop on the critical path); each with
 * its ratio to no isolation. Then a per-test breakdown for database mode, timed in this process
 * through the same broker the Vitest workers use: waiting for a clone, the fixture's own client,
 * the first connection into a fresh clone, authentication (SCRAM over TCP against trust over the
 * unix socket), the second connection, the drop. And the cost of `import 'pgrig/vitest'` next to
 * `import 'pg'` in a new process.
 *
 * Run: `npm run bench:overhead`. Options: `--runs N` (medians of N runs per row, default 3),
 * `--trivial N` / `--heavy N` (suite sizes), `--quick` (1 run, 40 + 100 tests: a smoke run),
 * `--only trivial|isolation`. The server is one pgrig server kept up for the whole bench; the
 * Vitest runs find it as a `pgrig run` child would (PGRIG_RUN_ID).
 */
import { spawn, execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath, URL } from 'node:url'
import pg from 'pg'
import { startCluster } from '../dist/index.js'
import { startSession } from '../dist/databases/session.js'
import { startBroker } from '../dist/databases/broker.js'
import { BrokerClient } from '../dist/databases/broker-client.js'

import { arg, flag, intArg } from './lib/args.mjs'
import { HEAVY_SCHEMA, HEAVY_SEED, ROWS_PER_TABLE, TABLES } from './lib/heavy-suite.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const VITEST = path.join(ROOT, 'node_modules', 'vitest', 'vitest.mjs')

const QUICK = flag('quick')
const RUNS = intArg('runs', QUICK ? 1 : 3)
const TRIVIAL = intArg('trivial', QUICK ? 40 : 200)
const HEAVY = intArg('heavy', QUICK ? 100 : 500)
const ONLY = arg('only')
const FILES = 4
const WORKERS = 2

const TRIVIAL_SCHEMA = 'CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL);'
const TRIVIAL_SEED = "INSERT INTO items (name) SELECT 'seed ' || g FROM generate_series(1, 10) g;"

/** The test bodies, as source: `body(client, n)` runs on a connected `pg.Client`. */
const BODIES = {
  trivial: `async function body(client, n) {
  await client.query('select count(*) from items')
  await client.query('insert into items (name) values ($1)', ['test ' + n])
}`,
  isolation: `const TABLES = ${TABLES}
const tableNames = Array.from({ length: TABLES }, (_, i) => 't' + (i + 1))
async function body(client, n) {
  const child = tableNames[1 + (n % (TABLES - 1))]
  const parent = tableNames[n % (TABLES - 1)]
  const { rows } = await client.query('INSERT INTO ' + parent + ' (name, qty) VALUES ($1, 20) RETURNING id', ['parent ' + n])
  const parentId = rows[0].id
  await client.query('INSERT INTO ' + child + ' (parent_id, name, qty) VALUES ($1, $2, 1)', [parentId, 'test ' + n])
  await client.query('UPDATE ' + parent + ' SET qty = qty + 1 WHERE id = $1', [parentId])
  const joined = await client.query('SELECT count(*)::int AS n FROM ' + child + ' c JOIN ' + parent + ' p ON p.id = c.parent_id WHERE p.qty > $1', [10])
  if (joined.rows[0].n < 1) throw new Error('test ' + n + ' saw no rows: isolation broken')
}`,
}

const ROWS = [
  { key: 'none', label: 'no isolation (one shared database, nothing reset)' },
  { key: 'database', label: 'pgrig database mode' },
  { key: 'transaction', label: 'pgrig transaction mode' },
  { key: 'truncate', label: 'pgrig truncate mode' },
  { key: 'template', label: 'CREATE DATABASE … TEMPLATE per test, no pool' },
]

/** One spec file of the suite for one row; tests n = first … first + count - 1. */
function specSource(suite, row, first, count) {
  const pgrigRow = ['database', 'transaction', 'truncate'].includes(row)
  const head = pgrigRow
    ? `import { test } from 'pgrig/vitest'\n`
    : `import { test${row === 'template' ? ', beforeAll, afterAll' : ''} } from 'vitest'\n`
  const run = {
    none: `test('t' + n, async () => {
    const client = new pg.Client({ connectionString: process.env.BENCH_SHARED_URL })
    await client.connect()
    try { await body(client, n) } finally { await client.end() }
  })`,
    database: `test('t' + n, async ({ db }) => {
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    try { await body(client, n) } finally { await client.end() }
  })`,
    template: `test('t' + n, async () => {
    const name = 'bench_tpl_' + process.pid + '_' + n
    await admin.query('create database ' + name + ' template ' + process.env.BENCH_TEMPLATE + ' owner ' + process.env.BENCH_OWNER + ' strategy file_copy')
    const url = new URL(process.env.BENCH_SHARED_URL); url.pathname = '/' + name
    const client = new pg.Client({ connectionString: url.toString() })
    await client.connect()
    try { await body(client, n) } finally {
      await client.end()
      await admin.query('drop database ' + name + ' with (force)')
    }
  })`,
  }
  const tests = run[row] ?? run.database
  return `${head}import pg from 'pg'
${BODIES[suite]}
${
  row === 'template'
    ? `let admin
beforeAll(async () => { admin = new pg.Client({ connectionString: process.env.BENCH_ADMIN_URL }); await admin.connect() })
afterAll(async () => { await admin.end() })
`
    : ''
}for (let n = ${first}; n < ${first + count}; n++) {
  ${tests}
}
`
}

function configSource(row) {
  const pgrigRow = ['database', 'transaction', 'truncate'].includes(row)
  return `import { defineConfig } from 'vitest/config'
${pgrigRow ? "import { pgrig } from 'pgrig/vitest'" : ''}
export default defineConfig({
  plugins: [${pgrigRow ? `pgrig({ migrations: './migrations', seed: './seed.sql', isolation: '${row}' })` : ''}],
  test: { include: ['*.spec.mjs'], maxWorkers: ${WORKERS}, fileParallelism: true },
})
`
}

/** A project folder whose node_modules link this checkout's packages, and `pgrig` itself. */
function project(suite, row, tests) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pgrig-bench-overhead-${suite}-${row}-`))
  const modules = path.join(dir, 'node_modules')
  fs.mkdirSync(modules)
  for (const entry of fs.readdirSync(path.join(ROOT, 'node_modules'))) {
    if (!entry.startsWith('.'))
      fs.symlinkSync(path.join(ROOT, 'node_modules', entry), path.join(modules, entry))
  }
  fs.symlinkSync(ROOT, path.join(modules, 'pgrig'))
  fs.writeFileSync(path.join(dir, 'package.json'), '{ "type": "module", "private": true }\n')
  fs.mkdirSync(path.join(dir, 'migrations'))
  fs.writeFileSync(
    path.join(dir, 'migrations', '001_schema.sql'),
    suite === 'trivial' ? TRIVIAL_SCHEMA : HEAVY_SCHEMA,
  )
  fs.writeFileSync(path.join(dir, 'seed.sql'), suite === 'trivial' ? TRIVIAL_SEED : HEAVY_SEED)
  fs.writeFileSync(path.join(dir, 'vitest.config.mjs'), configSource(row))
  const per = Math.ceil(tests / FILES)
  for (let f = 0; f < FILES; f++) {
    const first = f * per
    const count = Math.max(0, Math.min(per, tests - first))
    fs.writeFileSync(path.join(dir, `f${f + 1}.spec.mjs`), specSource(suite, row, first, count))
  }
  return dir
}

function vitestRun(dir, env, files = []) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(process.execPath, [VITEST, 'run', ...files], {
      cwd: dir,
      env: { ...process.env, ...env, CI: 'true', NO_COLOR: '1' },
    })
    let output = ''
    child.stdout.on('data', (c) => (output += c))
    child.stderr.on('data', (c) => (output += c))
    child.on('error', reject)
    child.on('close', (code) => {
      const wall = performance.now() - t0
      if (code !== 0) reject(new Error(`vitest in ${dir} exited ${code}:\n${output.slice(-3000)}`))
      else resolve(wall)
    })
  })
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor((s.length - 1) / 2)]
}
const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]
}
const fmt = (ms) => (ms < 10 ? ms.toFixed(2) : ms < 100 ? ms.toFixed(1) : ms.toFixed(0))

async function withClient(url, fn) {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

function dbUrl(base, database) {
  const url = new URL(base)
  url.pathname = `/${database}`
  return url.toString()
}

async function suiteRows(server, suite, tests) {
  const tpl = `bench_overhead_${suite}`
  const shared = `bench_overhead_${suite}_shared`
  const owner = pg.escapeIdentifier(server.user)
  await withClient(server.superuser.url, async (admin) => {
    await admin.query(`DROP DATABASE IF EXISTS ${shared}`)
    await admin.query(`DROP DATABASE IF EXISTS ${tpl}`)
    await admin.query(`CREATE DATABASE ${tpl} OWNER ${owner}`)
  })
  await withClient(dbUrl(server.url, tpl), async (c) => {
    await c.query(suite === 'trivial' ? TRIVIAL_SCHEMA : HEAVY_SCHEMA)
    await c.query(suite === 'trivial' ? TRIVIAL_SEED : HEAVY_SEED)
  })
  const env = {
    PGRIG_RUN_ID: server.runId,
    BENCH_SHARED_URL: dbUrl(server.url, shared),
    BENCH_ADMIN_URL: server.superuser.url,
    BENCH_TEMPLATE: tpl,
    BENCH_OWNER: owner,
  }
  const dirs = Object.fromEntries(ROWS.map((r) => [r.key, project(suite, r.key, tests)]))
  const walls = Object.fromEntries(ROWS.map((r) => [r.key, []]))
  try {
    // Untimed: the plugin's template is built once (then reused by every run), files compiled once.
    await vitestRun(dirs.database, env, ['f1.spec.mjs'])
    // Rows are taken in turn inside each repetition, so drift in the machine's load hits all alike.
    for (let run = 0; run < RUNS; run++) {
      for (const { key } of ROWS) {
        if (key === 'none') {
          await withClient(server.superuser.url, (a) =>
            a.query(`CREATE DATABASE ${shared} TEMPLATE ${tpl} OWNER ${owner}`),
          )
        }
        walls[key].push(await vitestRun(dirs[key], env))
        if (key === 'none') {
          await withClient(server.superuser.url, (a) => a.query(`DROP DATABASE ${shared} WITH (FORCE)`))
        }
        console.error(`  ${suite} / ${key} run ${run + 1}: ${fmt(walls[key].at(-1))} ms`)
      }
    }
  } finally {
    for (const dir of Object.values(dirs)) fs.rmSync(dir, { recursive: true, force: true })
    await withClient(server.superuser.url, (a) => a.query(`DROP DATABASE IF EXISTS ${tpl}`))
  }
  const none = median(walls.none)
  return ROWS.map((r) => ({ ...r, wall: median(walls[r.key]), ratio: median(walls[r.key]) / none }))
}

/**
 * Database mode one test at a time, as the fixture runs it, with each part timed: two loops side
 * by side, as two Vitest workers would be.
 */
async function breakdown(server, tests) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-bench-overhead-breakdown-'))
  fs.mkdirSync(path.join(dir, 'migrations'))
  fs.writeFileSync(path.join(dir, 'migrations', '001_schema.sql'), HEAVY_SCHEMA)
  fs.writeFileSync(path.join(dir, 'seed.sql'), HEAVY_SEED)
  process.env.PGRIG_RUN_ID = server.runId
  const session = await startSession({ cwd: dir, migrations: './migrations', seed: './seed.sql' })
  const broker = await startBroker(
    session.pool,
    path.join(session.runDir, `bench-overhead-${process.pid}.sock`),
  )
  const parts = { wait: [], fixture: [], first: [], second: [], trust: [], release: [], drop: [] }
  const clients = Array.from({ length: WORKERS }, () => new BrokerClient(broker.socketPath))
  const connect = async (config) => {
    const client = new pg.Client(config)
    const t0 = performance.now()
    await client.connect()
    return { client, ms: performance.now() - t0 }
  }
  try {
    const deadline = Date.now() + 30_000
    while (session.pool.stats().ready < 4 && Date.now() < deadline) await sleep(5)
    let next = 0
    await Promise.all(
      clients.map(async (broker) => {
        for (let n = next++; n < tests; n = next++) {
          let t0 = performance.now()
          const lease = await broker.acquire()
          parts.wait.push(performance.now() - t0)
          // The fixture's own db.client, when it opens one.
          const fixture = await connect({ connectionString: lease.url })
          parts.fixture.push(fixture.ms)
          // The test's own connection (the first one after the fixture's, as in the Vitest rows).
          const own = await connect({ connectionString: lease.url })
          parts.second.push(own.ms)
          await own.client.query('select count(*) from t1')
          await own.client.end()
          await fixture.client.end()
          t0 = performance.now()
          await broker.release(lease.name)
          parts.release.push(performance.now() - t0)
        }
      }),
    )
    // The first connection into a fresh clone against a second one, and SCRAM against trust.
    for (let i = 0; i < Math.min(30, tests); i++) {
      const lease = await clients[0].acquire()
      const first = await connect({ connectionString: lease.url })
      parts.first.push(first.ms)
      const trusted = await connect({
        host: server.info.socketDir ?? undefined,
        port: server.port,
        user: server.info.superuser.user,
        database: lease.name,
      }).catch(() => undefined)
      if (trusted) {
        parts.trust.push(trusted.ms)
        await trusted.client.end()
      }
      await first.client.end()
      await clients[0].release(lease.name)
    }
    // The drop, alone: what the background dropper spends per clone.
    await withClient(server.superuser.url, async (admin) => {
      for (let i = 0; i < Math.min(20, tests); i++) {
        await admin.query(
          `CREATE DATABASE bench_overhead_drop TEMPLATE ${session.template.name} STRATEGY file_copy`,
        )
        const t0 = performance.now()
        await admin.query('DROP DATABASE bench_overhead_drop WITH (FORCE)')
        parts.drop.push(performance.now() - t0)
      }
    })
  } finally {
    clients.forEach((c) => c.close())
    await broker.close()
    await session.close()
    delete process.env.PGRIG_RUN_ID
    fs.rmSync(dir, { recursive: true, force: true })
  }
  return parts
}

/** Median ms of importing `specifier` in a new Node process (from the repo root), over `runs`. */
function importCost(specifier, runs) {
  const script = `const t = performance.now(); await import(${JSON.stringify(specifier)}); console.log(performance.now() - t)`
  const samples = []
  for (let i = 0; i < runs; i++) {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
    })
    samples.push(Number(out.trim()))
  }
  return median(samples)
}

async function main() {
  console.error(`overhead bench: ${RUNS} run(s) per row, ${FILES} files, ${WORKERS} workers`)
  const imports = Math.max(3, RUNS * 2)
  const importRows = [
    ['pg', importCost('pg', imports)],
    ['vitest', importCost('vitest', imports)],
    ['pgrig/vitest', importCost('pgrig/vitest', imports)],
    ['pgrig', importCost('pgrig', imports)],
  ]
  const server = await startCluster({ quiet: true })
  const suites = []
  let parts
  try {
    if (!ONLY || ONLY === 'trivial')
      suites.push(['trivial', TRIVIAL, await suiteRows(server, 'trivial', TRIVIAL)])
    if (!ONLY || ONLY === 'isolation')
      suites.push(['isolation', HEAVY, await suiteRows(server, 'isolation', HEAVY)])
    parts = await breakdown(server, Math.min(200, HEAVY))
  } finally {
    await server.stop()
  }

  console.log('\n(2-core machine shared with other jobs: figures are noisy; compare rows of one run)')
  for (const [suite, tests, rows] of suites) {
    const what =
      suite === 'trivial'
        ? `${tests} trivial tests (connect with pg, count, insert, disconnect)`
        : `${tests} tests on ${TABLES} tables / ${TABLES * ROWS_PER_TABLE} seed rows`
    console.log(`\n${what}, ${FILES} files, ${WORKERS} workers; whole \`vitest run\`, median of ${RUNS}\n`)
    console.log('| isolation | wall time (s) | vs no isolation | target |')
    console.log('|---|---:|---:|---|')
    for (const r of rows) {
      const target = r.key === 'database' ? '≤ 1.10×' : ''
      console.log(`| ${r.label} | ${(r.wall / 1000).toFixed(2)} | ${r.ratio.toFixed(2)}× | ${target} |`)
    }
  }
  const row = (name, xs, note = '') =>
    xs.length
      ? console.log(`| ${name} | ${fmt(quantile(xs, 0.5))} | ${fmt(quantile(xs, 0.95))} | ${note} |`)
      : console.log(`| ${name} | – | – | ${note} |`)
  console.log(`\ndatabase mode, per test (${parts.wait.length} tests, ${WORKERS} loops side by side; ms)\n`)
  console.log('| part | p50 | p95 | note |')
  console.log('|---|---:|---:|---|')
  row('waiting for a clone (broker acquire)', parts.wait)
  row("the fixture's own client (connect, when opened)", parts.fixture, 'first connection into the clone')
  row("the test's own connection (second into the clone)", parts.second)
  row('first connection into a fresh clone (alone)', parts.first, 'one test at a time')
  row('connection over the unix socket, trust (alone)', parts.trust, 'first − this ≈ authentication + TCP')
  row('release (broker round trip; drop runs in the background)', parts.release)
  row('DROP DATABASE … WITH (FORCE), alone', parts.drop, 'background, per clone')
  console.log(`\nimport cost in a new process (median of ${imports}; ms)\n`)
  console.log('| import | ms | vs pg |')
  console.log('|---|---:|---:|')
  const pgMs = importRows[0][1]
  for (const [name, ms] of importRows)
    console.log(`| \`import '${name}'\` | ${fmt(ms)} | ${(ms / pgMs).toFixed(2)}× |`)
}

await main()
