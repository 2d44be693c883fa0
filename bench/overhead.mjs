/**
 * Overhead benchmark: what a fresh database per test costs a whole `vitest run`, next to the same
 * tests with no isolation at all (issue 16).
 *
 * Two suites, each run as a whole Vitest command (4 files, 2 workers), on one server:
 *   - trivial: N tests (default 200) that connect with `pg`, count, insert and disconnect;
 *   - isolation: N tests (default 500) on a 20-table, 4,000-row schema (the body of bench/isolation.mjs),
 *     each on its own `pg` connection.
 * Rows per suite: no isolation (one shared database, nothing reset), each pgrig mode
 * (database / transaction / truncate / reset, through the `pgrig/vitest` plugin), and `CREATE DATABASE …
 * TEMPLATE` per test without a pool (create, connect, test, drop on the critical path); each with
 * its ratio to no isolation. Then a per-test breakdown for database mode, timed in this process
 * through the same broker the Vitest workers use: waiting for a clone, the fixture's own client,
 * the first connection into a fresh clone, authentication (SCRAM over TCP against trust over the
 * unix socket), the second connection, the drop. And the cost of `import 'pgrig/vitest'` next to
 * `import 'pg'` in a new process.
 *
 * pgrig is copied into each project's node_modules, as an install puts it.
 *
 * Run: `npm run bench:overhead`. Options: `--runs N` (medians of N runs per row, default 3),
 * `--trivial N` / `--heavy N` (suite sizes), `--quick` (1 run, 40 + 100 tests: a smoke run),
 * `--only trivial|isolation`. The server is one pgrig server kept up for the whole bench; the
 * Vitest runs find it as a `pgrig run` child would (PGRIG_RUN_ID).
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath, URL } from 'node:url'
import pg from 'pg'
import { startServer } from '../dist/index.js'
import { startRunDatabases } from '../dist/databases/run-databases.js'
import { startBroker } from '../dist/databases/broker.js'
import { BrokerClient } from '../dist/databases/broker-client.js'

import { arg, flag, intArg } from './lib/args.mjs'
import { measureImports, printImports } from './lib/import-cost.mjs'
import { HEAVY_SCHEMA, HEAVY_SEED, ROWS_PER_TABLE, TABLES } from './lib/heavy-suite.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const VITEST = path.join(ROOT, 'node_modules', 'vitest', 'vitest.mjs')

const QUICK = flag('quick')
const RUNS = intArg('runs', QUICK ? 1 : 3)
const TRIVIAL = intArg('trivial', QUICK ? 40 : 200)
const HEAVY = intArg('heavy', QUICK ? 100 : 500)
const ONLY = arg('only')
/** `--rows none,database,template`: only these rows (no isolation is always run, as the ratios' base). */
const ONLY_ROWS = arg('rows')?.split(',')
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
  { key: 'reset', label: 'pgrig reset mode' },
  { key: 'template', label: 'CREATE DATABASE … TEMPLATE per test, no pool' },
].filter((r) => !ONLY_ROWS || r.key === 'none' || ONLY_ROWS.includes(r.key))
if (ONLY_ROWS && ROWS.length !== new Set([...ONLY_ROWS, 'none']).size) {
  console.error(
    `--rows takes a comma-separated list of none, database, transaction, truncate, reset, template; got ${ONLY_ROWS}`,
  )
  process.exit(2)
}
/**
 * `--ab 'NAME=VALUE NAME2=VALUE2'`: one more database-mode row whose Vitest runs get these
 * environment variables, taken in turn with the others (an A/B of a setting in one run).
 */
const AB = arg('ab')
/** `--ab-root DIR`: the extra row runs another built checkout of pgrig (say main, against this branch). */
const AB_ROOT = arg('ab-root')
/**
 * `--ab-node 'ARGS'`: the extra row's Vitest runs under `node ARGS` (Node 20 refuses `--cpu-prof`
 * in NODE_OPTIONS; `--ab-node '--cpu-prof --cpu-prof-dir=DIR'` profiles the main process and, since
 * Vitest's forks inherit its execArgv, each worker).
 */
const AB_NODE = arg('ab-node')?.trim().split(/\s+/)
/** `--ab-linked`: the extra row's project links pgrig (`npm link`, a workspace) instead of holding a copy. */
const AB_LINKED = flag('ab-linked')
if (AB || AB_ROOT || AB_NODE || AB_LINKED) {
  const env = Object.fromEntries(
    // Split before each NAME=, so a value may hold spaces (NODE_OPTIONS='--max-old-space-size=… …').
    (AB ?? '')
      .trim()
      .split(/\s+(?=[A-Za-z_][A-Za-z0-9_]*=)/)
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  )
  const differences = [
    AB && `with ${AB}`,
    AB_ROOT && `from ${AB_ROOT}`,
    AB_NODE && `under node ${AB_NODE.join(' ')}`,
    AB_LINKED && 'pgrig linked into node_modules',
  ]
  ROWS.push({
    key: 'database-b',
    mode: 'database',
    env,
    linked: AB_LINKED,
    ...(AB_ROOT ? { root: path.resolve(AB_ROOT) } : {}),
    label: ['pgrig database mode', ...differences].filter(Boolean).join(', '),
  })
}

/** One spec file of the suite for one row; tests n = first … first + count - 1. */
function specSource(suite, row, first, count) {
  const pgrigRow = ['database', 'transaction', 'truncate', 'reset'].includes(row)
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

/**
 * A reporter that asks the run's broker for the pool's figures before the run ends (acquires that
 * had to wait, and for how long) and writes them to pool-stats.json.
 */
const STATS_REPORTER = `import fs from 'node:fs'
import { BrokerClient } from '${new URL('../dist/databases/broker-client.js', import.meta.url)}'
export default class PoolStats {
  onInit(vitest) { this.vitest = vitest }
  async onTestRunEnd() {
    const provided = this.vitest.projects[0].getProvidedContext().pgrig
    if (!provided) return
    const broker = new BrokerClient(provided.socketPath)
    try { fs.writeFileSync(new URL('./pool-stats.json', import.meta.url), JSON.stringify(await broker.stats())) }
    finally { broker.close() }
  }
}
`

function configSource(row) {
  const pgrigRow = ['database', 'transaction', 'truncate', 'reset'].includes(row)
  return `import { defineConfig } from 'vitest/config'
${pgrigRow ? "import { pgrig } from 'pgrig/vitest'" : ''}
export default defineConfig({
  plugins: [${pgrigRow ? `pgrig({ migrations: './migrations', seed: './seed.sql', isolation: '${row}' })` : ''}],
  test: { include: ['*.spec.mjs'], maxWorkers: ${WORKERS}, fileParallelism: true${
    pgrigRow ? ", reporters: ['default', './pool-stats-reporter.mjs']" : ''
  } },
})
`
}

/** A project folder whose node_modules link this checkout's packages, and `pgrig` itself. */
function project(suite, row, tests, root = ROOT, linked = false) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pgrig-bench-overhead-${suite}-${row}-`))
  const modules = path.join(dir, 'node_modules')
  fs.mkdirSync(modules)
  for (const entry of fs.readdirSync(path.join(ROOT, 'node_modules'))) {
    if (!entry.startsWith('.'))
      fs.symlinkSync(path.join(ROOT, 'node_modules', entry), path.join(modules, entry))
  }
  // pgrig installed as a user installs it: a folder inside node_modules, not a link to this
  // checkout (whose real path lies outside node_modules, so Vitest would run pgrig's globalSetup and
  // everything it imports through Vite's transform, and the config loader would bundle it: work a
  // real install never does).
  // `--ab-linked`: the extra row links it instead (as `npm link` or a workspace does), to measure that.
  if (linked) fs.symlinkSync(root, path.join(modules, 'pgrig'))
  else {
    fs.mkdirSync(path.join(modules, 'pgrig'))
    fs.copyFileSync(path.join(root, 'package.json'), path.join(modules, 'pgrig', 'package.json'))
    fs.cpSync(path.join(root, 'dist'), path.join(modules, 'pgrig', 'dist'), { recursive: true })
  }
  fs.writeFileSync(path.join(dir, 'package.json'), '{ "type": "module", "private": true }\n')
  fs.mkdirSync(path.join(dir, 'migrations'))
  fs.writeFileSync(
    path.join(dir, 'migrations', '001_schema.sql'),
    suite === 'trivial' ? TRIVIAL_SCHEMA : HEAVY_SCHEMA,
  )
  fs.writeFileSync(path.join(dir, 'seed.sql'), suite === 'trivial' ? TRIVIAL_SEED : HEAVY_SEED)
  fs.writeFileSync(path.join(dir, 'vitest.config.mjs'), configSource(row))
  fs.writeFileSync(path.join(dir, 'pool-stats-reporter.mjs'), STATS_REPORTER)
  const per = Math.ceil(tests / FILES)
  for (let f = 0; f < FILES; f++) {
    const first = f * per
    const count = Math.max(0, Math.min(per, tests - first))
    fs.writeFileSync(path.join(dir, `f${f + 1}.spec.mjs`), specSource(suite, row, first, count))
  }
  return dir
}

/** CPU seconds of a process from /proc (USER_HZ ticks): its own, and with `reaped` its waited-for children's too. */
function cpuOf(pid, reaped) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number)
    // Fields 14–17 of proc(5): utime, stime, cutime, cstime.
    return (f[11] + f[12] + (reaped ? f[13] + f[14] : 0)) / 100
  } catch {
    return 0 // gone between listing and reading
  }
}

/** CPU seconds the server used so far: the postmaster, its reaped backends, and the processes alive now. */
function serverCpu(pid) {
  if (!pid || !fs.existsSync('/proc/self/stat')) return NaN
  let children = []
  try {
    children = fs
      .readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
  } catch {
    // no children file (kernel without CONFIG_PROC_CHILDREN): the live ones go uncounted
  }
  return cpuOf(pid, true) + children.reduce((sum, child) => sum + cpuOf(child, false), 0)
}

/** CPU seconds of this process's finished children (a Vitest run and its workers, once it exited). */
const childrenCpu = () =>
  fs.existsSync('/proc/self/stat') ? cpuOf('self', true) - cpuOf('self', false) : NaN

function vitestRun(dir, env, files = [], nodeArgs = []) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(process.execPath, [...nodeArgs, VITEST, 'run', ...files], {
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
  const dirs = Object.fromEntries(
    ROWS.map((r) => [r.key, project(suite, r.mode ?? r.key, tests, r.root, r.linked)]),
  )
  const walls = Object.fromEntries(ROWS.map((r) => [r.key, []]))
  const cpus = Object.fromEntries(ROWS.map((r) => [r.key, { vitest: [], server: [] }]))
  const waits = []
  let clone
  try {
    // Untimed: the plugin's template is built once (then reused by every run), files compiled once.
    await vitestRun(dirs.database, env, ['f1.spec.mjs'])
    // Rows are taken in turn inside each repetition, so drift in the machine's load hits all alike.
    for (let run = 0; run < RUNS; run++) {
      for (const { key, mode, env: extra } of ROWS) {
        const nodeArgs = key === 'database-b' ? (AB_NODE ?? []) : []
        if (key === 'none') {
          await withClient(server.superuser.url, (a) =>
            a.query(`CREATE DATABASE ${shared} TEMPLATE ${tpl} OWNER ${owner}`),
          )
        }
        const cpu0 = { vitest: childrenCpu(), server: serverCpu(server.info.pid) }
        walls[key].push(await vitestRun(dirs[key], { ...env, ...extra }, [], nodeArgs))
        cpus[key].vitest.push(childrenCpu() - cpu0.vitest)
        cpus[key].server.push(serverCpu(server.info.pid) - cpu0.server)
        if (key === 'none') {
          await withClient(server.superuser.url, (a) => a.query(`DROP DATABASE ${shared} WITH (FORCE)`))
        }
        let note = ''
        if ((mode ?? key) === 'database') {
          const stats = JSON.parse(fs.readFileSync(path.join(dirs[key], 'pool-stats.json'), 'utf8'))
          if (key === 'database') waits.push(stats)
          note = ` (${stats.waited} of ${stats.created} acquires waited, ${fmt(stats.waitedMs ?? NaN)} ms in all)`
        }
        console.error(`  ${suite} / ${key} run ${run + 1}: ${fmt(walls[key].at(-1))} ms${note}`)
      }
    }
    clone = await cloneCost(server, tpl)
  } finally {
    for (const dir of Object.values(dirs)) fs.rmSync(dir, { recursive: true, force: true })
    await withClient(server.superuser.url, (a) => a.query(`DROP DATABASE IF EXISTS ${tpl}`))
  }
  const none = median(walls.none)
  const rows = ROWS.map((r) => ({
    ...r,
    wall: median(walls[r.key]),
    ratio: median(walls[r.key]) / none,
    vitestCpu: median(cpus[r.key].vitest),
    serverCpu: median(cpus[r.key].server),
  }))
  // What any design that creates and drops a database per test costs at the least here: the
  // server's CPU for the clones, spread over every core, on top of no isolation's wall time.
  const floor = none + (tests * (clone.createMs + clone.dropMs)) / CORES
  return { rows, waits, clone, floor: { wall: floor, ratio: floor / none } }
}

const CORES = os.availableParallelism()
const CLONE_SAMPLES = 40

/**
 * Server CPU per `CREATE DATABASE … TEMPLATE … STRATEGY file_copy` and per `DROP DATABASE … WITH
 * (FORCE)` of this suite's template, measured from /proc with nothing else running on the server,
 * WORKERS sessions side by side (as the pool runs them); PostgreSQL 18 copies with its default
 * file_copy_method here, as a plain CREATE does.
 */
async function cloneCost(server, template) {
  const sessions = await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      const client = new pg.Client({ connectionString: server.superuser.url })
      await client.connect()
      return client
    }),
  )
  const name = (i) => `bench_overhead_clone_${i}`
  const timed = async (statement) => {
    const cpu0 = serverCpu(server.info.pid)
    let next = 0
    await Promise.all(
      sessions.map(async (client) => {
        for (let i = next++; i < CLONE_SAMPLES; i = next++) await client.query(statement(name(i)))
      }),
    )
    return ((serverCpu(server.info.pid) - cpu0) * 1000) / CLONE_SAMPLES
  }
  try {
    const createMs = await timed((db) => `CREATE DATABASE ${db} TEMPLATE ${template} STRATEGY file_copy`)
    const dropMs = await timed((db) => `DROP DATABASE ${db} WITH (FORCE)`)
    return { createMs, dropMs }
  } finally {
    await Promise.all(sessions.map((client) => client.end()))
  }
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
  const session = await startRunDatabases({ cwd: dir, migrations: './migrations', seed: './seed.sql' })
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

async function main() {
  console.error(`overhead bench: ${RUNS} run(s) per row, ${FILES} files, ${WORKERS} workers`)
  const imports = Math.max(3, RUNS * 2)
  const importRows = measureImports(ROOT, imports)
  const server = await startServer({ quiet: true })
  const suites = []
  let parts
  try {
    if (!ONLY || ONLY === 'trivial')
      suites.push(['trivial', TRIVIAL, await suiteRows(server, 'trivial', TRIVIAL)])
    if (!ONLY || ONLY === 'isolation')
      suites.push(['isolation', HEAVY, await suiteRows(server, 'isolation', HEAVY)])
    // `--no-breakdown`: the whole-run rows alone (a quicker A/B of a change).
    if (!flag('no-breakdown')) parts = await breakdown(server, Math.min(200, HEAVY))
  } finally {
    await server.stop()
  }

  report(suites, parts, importRows, imports)
}

function report(suites, parts, importRows, imports) {
  console.log(
    `\n(2-core machine shared with other jobs: figures are noisy; compare rows of one run; load ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')})`,
  )
  for (const [suite, tests, { rows, waits, clone, floor }] of suites) {
    const what =
      suite === 'trivial'
        ? `${tests} trivial tests (connect with pg, count, insert, disconnect)`
        : `${tests} tests on ${TABLES} tables / ${TABLES * ROWS_PER_TABLE} seed rows`
    console.log(`\n${what}, ${FILES} files, ${WORKERS} workers; whole \`vitest run\`, median of ${RUNS}\n`)
    console.log('| isolation | wall time (s) | vs no isolation | target | CPU s: Vitest | CPU s: server |')
    console.log('|---|---:|---:|---|---:|---:|')
    for (const r of rows) {
      const target = (r.mode ?? r.key) === 'database' ? '≤ 1.10×' : ''
      console.log(
        `| ${r.label} | ${(r.wall / 1000).toFixed(2)} | ${r.ratio.toFixed(2)}× | ${target} | ${r.vitestCpu.toFixed(2)} | ${r.serverCpu.toFixed(2)} |`,
      )
    }
    console.log(
      `| floor of any per-test CREATE DATABASE design: no isolation + ${tests} × ${fmt(clone.createMs + clone.dropMs)} ms server CPU ÷ ${CORES} cores | ${(floor.wall / 1000).toFixed(2)} | ${floor.ratio.toFixed(2)}× | | | |`,
    )
    console.log(
      `\nserver CPU per clone of this template, ${WORKERS} sessions side by side: CREATE … STRATEGY file_copy ${fmt(clone.createMs)} ms, DROP … WITH (FORCE) ${fmt(clone.dropMs)} ms; 1.10× would leave ${fmt((0.1 * rows[0].wall * CORES) / tests)} ms of CPU per test for everything isolation costs`,
    )
    if (waits.length) {
      const waited = median(waits.map((w) => w.waited))
      const waitedMs = median(waits.map((w) => w.waitedMs))
      console.log(
        `\ndatabase mode: ${waited} of ${tests} acquires found no clone ready (median of runs), ${fmt(waitedMs)} ms waited in all`,
      )
    }
  }
  if (!parts) return
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
  printImports(importRows, imports)
}

await main()
