/**
 * pgrig serve against IntegreSQL's published figures and the targets, on IntegreSQL's 563-test
 * shape: a fleet of test processes (`--workers`, default 4) shares one API; each test checks a
 * database out over HTTP, connects, writes and reads, and gives it back dirty (recreate).
 *
 *   - checkout: client-side time of GET /api/v1/templates/:hash/tests (HTTP included), per test,
 *     in two runs side by side: `paced`, where each test also spends `--pace` ms (default 50) in
 *     its own code as an API or handler test does, and `flat out`, where tests do nothing else, so
 *     the fleet asks for databases faster than any pool can recreate them;
 *   - recreate: what the pool does for one dirty database: DROP … WITH (FORCE) on one session while
 *     another runs CREATE DATABASE … TEMPLATE … STRATEGY file_copy with pgrig's birth marks and
 *     the marker, timed until the replacement is ready, on the same server and template once the
 *     suites are done;
 *   - the floor: the same fleet, client and tests, paced, against a bare node:http server in this
 *     process that answers every checkout with one shared database made from the same template
 *     (no pool, nothing created or dropped): what HTTP and the tests' own work cost on this machine.
 * IntegreSQL's figures are its own (v1.1 release notes, 563 tests); this machine's other load shows
 * up in pgrig's numbers directly, so the load average is printed with them.
 *
 * Run: `npm run bench:serve` (builds dist/, then `node bench/serve.mjs`). `--tests N` (default 563),
 * `--workers N`, `--pace MS`, `--recreates N` samples (default 100), `--ab-root DIR` runs each suite
 * also on another built checkout of pgrig (main against a branch, in one run, suites interleaved).
 */
/* global fetch, URL */
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import diagnostics from 'node:diagnostics_channel'
import { setTimeout as sleep } from 'node:timers/promises'
import os from 'node:os'
import path from 'node:path'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import pg from 'pg'
import { startServer } from '../dist/servers/start-server.js'
import { BIRTH_OPTIONS, markBorn } from '../dist/databases/guard.js'

import { arg, intArg } from './lib/args.mjs'

const TESTS = intArg('tests', 563)
const WORKERS = intArg('workers', 4)
const PACE = arg('pace') === '0' ? 0 : intArg('pace', 50)
const RECREATES = intArg('recreates', 100)
const INTEGRESQL = { checkout: { p50: 0, p95: 1, max: 72 }, recreate: { p50: 68, p95: 80 } }
const TARGET = { checkoutP95: 1, recreateP50: 20 }
const HERE = path.dirname(fileURLToPath(import.meta.url))
const AB_ROOT = arg('ab-root')

const run = promisify(execFile)
const WORKER = path.join(HERE, 'lib', 'serve-worker.mjs')
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
const dsn = (c) =>
  `postgres://${encodeURIComponent(c.username)}:${encodeURIComponent(c.password)}@${c.host}:${c.port}/${c.database}`
const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')

async function sql(url, text) {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(text)).rows
  } finally {
    await client.end()
  }
}

// The server's own part of a checkout, in the serving process: request parsed → answer handed to
// the socket (writeHead), and → answer written (the write itself, in which this process can lose
// its core to the client it wakes).
// The process's CPU time over the first span (getrusage: precise, unlike schedstat's, which moves
// at scheduler ticks) is what the path itself costs, whatever the scheduler does meanwhile; the
// time the serving thread waited for a core over both spans (schedstat's run delay, counted as
// each wait ends) is what the scheduler added.
const served = { answered: [], written: [], cpu: [], queued: [] }
const SCHEDSTAT = '/proc/thread-self/schedstat'
const cpuMs = () => {
  const { user, system } = process.cpuUsage()
  return (user + system) / 1000
}
const queuedMs = fs.existsSync(SCHEDSTAT)
  ? () => Number(fs.readFileSync(SCHEDSTAT, 'latin1').split(' ')[1]) / 1e6
  : () => NaN
diagnostics.subscribe('http.server.request.start', ({ request }) => {
  request.benchStart = performance.now()
  request.benchCpu = cpuMs()
  request.benchQueued = queuedMs()
})
const writeHead = http.ServerResponse.prototype.writeHead
http.ServerResponse.prototype.writeHead = function (...args) {
  if (this.req && this.req.benchAnswer === undefined) {
    this.req.benchAnswer = performance.now()
    this.req.benchAnswerCpu = cpuMs()
  }
  return writeHead.apply(this, args)
}
diagnostics.subscribe('http.server.response.finish', ({ request }) => {
  if (request.method !== 'GET' || !request.url.endsWith('/tests')) return
  served.answered.push(request.benchAnswer - request.benchStart)
  served.written.push(performance.now() - request.benchStart)
  served.cpu.push(request.benchAnswerCpu - request.benchCpu)
  served.queued.push(queuedMs() - request.benchQueued)
})
const sorted = (list) => list.splice(0).sort((a, b) => a - b)
const takeServed = () => ({
  answered: sorted(served.answered),
  written: sorted(served.written),
  cpu: sorted(served.cpu),
  queued: sorted(served.queued),
})

// Of that, the manager's part (request routed → test database chosen), and the event loop's stalls.
const handled = []
const loopDelay = monitorEventLoopDelay({ resolution: 1 })

/** pgrig serve from a built checkout (this one, or --ab-root), its manager timed. */
async function checkout(label, root) {
  const dist = (file) => import(path.resolve(root, 'dist', file))
  const [{ serveOptionsFromEnv, startServe }, { TemplateManager }] = await Promise.all([
    dist('serve/index.js'),
    dist('serve/manager.js'),
  ])
  const testDatabase = TemplateManager.prototype.testDatabase
  TemplateManager.prototype.testDatabase = async function (...args) {
    const t0 = performance.now()
    try {
      return await testDatabase.apply(this, args)
    } finally {
      handled.push(performance.now() - t0)
    }
  }
  // IntegreSQL's variables apply (INTEGRESQL_NUM_OF_CLEANING_WORKERS, …) over the bench's pool sizes.
  const serve = () =>
    startServe({
      poolSize: WORKERS * 2,
      poolMax: WORKERS * 6,
      ...serveOptionsFromEnv(),
      server: cluster.info,
      port: 0,
    })
  return { label, serve }
}

const loadBefore = load()
const cluster = await startServer({ name: 'bench-serve', quiet: true })
const checkouts = [await checkout('', path.join(HERE, '..'))]
if (AB_ROOT) checkouts.push(await checkout(` ${path.basename(path.resolve(AB_ROOT))}`, AB_ROOT))

/** A migrated, finalized template under a new hash, so each suite starts with a fresh pool. */
async function template(base, label) {
  const hash = `bench-${label}-${Date.now()}`
  const created = await (
    await fetch(`${base}/templates`, { method: 'POST', body: JSON.stringify({ hash }) })
  ).json()
  await sql(
    dsn(created.database.config),
    `create table users (id serial primary key, email text unique, created_at timestamptz default now());
     create table posts (id serial primary key, user_id int references users, body text);
     insert into users (email) select 'user' || g || '@example.com' from generate_series(1, 200) g;
     insert into posts (user_id, body) select 1 + g % 200, 'post ' || g from generate_series(1, 1000) g;`,
  )
  await fetch(`${base}/templates/${hash}`, { method: 'PUT' })
  return hash
}

/**
 * The fleet's tests against `url`, with the serving process watched meanwhile: checkout times as
 * the clients saw them and as this process spent them, its event loop's delay and busy share, and
 * its CPU time.
 */
async function fleet(url, hash, pace) {
  takeServed()
  handled.length = 0
  loopDelay.reset()
  loopDelay.enable()
  const cpu = process.cpuUsage()
  const busy = performance.eventLoopUtilization()
  const started = performance.now()
  const shares = Array.from({ length: WORKERS }, (_, i) => Math.floor((TESTS + i) / WORKERS))
  const outputs = await Promise.all(
    shares.map((n) => run(process.execPath, [WORKER, url, hash, String(n), String(pace)])),
  )
  const ms = performance.now() - started
  loopDelay.disable()
  const { user, system } = process.cpuUsage(cpu)
  return {
    ms,
    checkouts: outputs.flatMap(({ stdout }) => JSON.parse(stdout)).sort((a, b) => a - b),
    served: takeServed(),
    handled: sorted(handled),
    loop: { p95: loopDelay.percentile(95) / 1e6, max: loopDelay.max / 1e6 },
    busy: performance.eventLoopUtilization(busy).utilization,
    cpuMs: (user + system) / 1000,
  }
}

/** The 563 tests over the fleet on a new API of one checkout, and what its pool says it did. */
async function suite(label, pace, { label: which, serve }) {
  const api = await serve()
  try {
    const base = `${api.baseUrl}/v1`
    const hash = await template(base, label)
    // Let the pool fill before the first test, as a suite's setup time would.
    await sleep(1500)
    const measured = await fleet(base, hash, pace)
    const pool = api.stats().find((s) => s.hash === hash).pool
    return { label: `${label}${which}`, pace, ...measured, pool }
  } finally {
    await api.close()
  }
}

/** The fleet's paced tests against a server that answers at once with one shared database. */
async function floor(templateName) {
  const database = 'pgrig_benchfloor'
  await sql(
    cluster.superuser.url,
    `create database ${database} template ${templateName} owner ${cluster.info.user}`,
  )
  const app = new URL(cluster.info.url)
  const body = JSON.stringify({
    database: {
      templateHash: 'floor',
      config: {
        host: app.hostname,
        port: Number(app.port || 5432),
        username: decodeURIComponent(app.username),
        password: decodeURIComponent(app.password),
        database,
      },
    },
    id: 1,
  })
  const bare = http.createServer((_, response) => {
    response.writeHead(200, { 'content-type': 'application/json; charset=UTF-8' })
    response.end(body)
  })
  await new Promise((resolve) => bare.listen(0, '127.0.0.1', resolve))
  try {
    return { label: 'floor', ...(await fleet(`http://127.0.0.1:${bare.address().port}`, 'floor', PACE)) }
  } finally {
    bare.close()
    await sql(cluster.superuser.url, `drop database if exists ${database} with (force)`)
  }
}

/**
 * The pool's work for one dirty database, as it does it: the dirty one dropped (one session) while
 * its replacement is created and marked (another); timed until the replacement is ready.
 */
async function recreates(templateName, fileCopyMethod) {
  const [dropper, creator] = await Promise.all(
    [0, 1].map(async () => {
      const client = new pg.Client({ connectionString: cluster.superuser.url })
      await client.connect()
      return client
    }),
  )
  // The pool's copy method (PostgreSQL 18's file_copy_method), as its creator sessions set it.
  if (fileCopyMethod) await creator.query(`set file_copy_method = ${fileCopyMethod}`)
  const name = (i) => `pgrig_benchrecreate_${i}`
  const create = async (i) => {
    await creator.query(
      `create database ${name(i)} template ${templateName} owner ${cluster.info.user} strategy file_copy ${BIRTH_OPTIONS}`,
    )
    await markBorn(creator, name(i), { runId: 'benchrecreate', kind: 'clone' })
  }
  const times = []
  try {
    await create(0)
    for (let i = 1; i <= RECREATES; i++) {
      const t0 = performance.now()
      const dropped = dropper.query(`drop database if exists ${name(i - 1)} with (force)`)
      await create(i)
      times.push(performance.now() - t0)
      await dropped
    }
    await dropper.query(`drop database if exists ${name(RECREATES)} with (force)`)
  } finally {
    await Promise.all([dropper.end(), creator.end()])
  }
  return times.sort((a, b) => a - b)
}

try {
  const suites = []
  for (const [label, pace] of [
    ['paced', PACE],
    ['flat', 0],
  ]) {
    for (const one of checkouts) suites.push(await suite(label, pace, one))
  }
  const [templateName] = (
    await sql(cluster.superuser.url, "select datname from pg_database where datname like 'pgrig\\_tpl\\_%'")
  ).map((r) => r.datname)
  const bare = await floor(templateName)
  const recreate = await recreates(templateName, suites[0].pool.fileCopyMethod)

  const ms = (v) => (v === undefined ? '' : `${v.toFixed(1)} ms`)
  const at = (p) => (list) => pct(list, p)
  const top = (list) => list.at(-1)
  // figure, what it is read from (a suite or the floor), IntegreSQL's, the target
  const rows = [
    ['checkout p50, HTTP', (s) => at(50)(s.checkouts), INTEGRESQL.checkout.p50, '—'],
    ['checkout p95, HTTP', (s) => at(95)(s.checkouts), INTEGRESQL.checkout.p95, `≤ ${TARGET.checkoutP95} ms`],
    ['checkout max, HTTP', (s) => top(s.checkouts), INTEGRESQL.checkout.max, '—'],
    ['in the server p50', (s) => at(50)(s.served.answered)],
    ['in the server p95', (s) => at(95)(s.served.answered), undefined, `≤ ${TARGET.checkoutP95} ms`],
    ['in the server max', (s) => top(s.served.answered)],
    ['  of it on CPU p50', (s) => at(50)(s.served.cpu)],
    ['  of it on CPU p95', (s) => at(95)(s.served.cpu)],
    ['  + writing it p95', (s) => at(95)(s.served.written)],
    ['  waiting for a core p95', (s) => at(95)(s.served.queued)],
    ['  the pool part p95', (s) => (s.handled.length ? at(95)(s.handled) : undefined)],
    ['event loop delay p95', (s) => s.loop.p95],
    ['event loop delay max', (s) => s.loop.max],
  ]
  console.log(
    `pgrig serve, ${TESTS} tests over ${WORKERS} test processes, PostgreSQL ${cluster.info.version}, ${os.availableParallelism()} cores, load average ${loadBefore} before\n`,
  )
  const columns = [...suites, bare]
  const names = suites.map((s) => s.label.replace(/^paced/, `paced ${PACE} ms`).replace(/^flat/, 'flat out'))
  const head = ['figure', ...names, `bare HTTP ${PACE} ms`, 'IntegreSQL', 'target']
  const widths = head.map((name, i) => (i === 0 ? 22 : Math.max(10, name.length + 2)))
  const line = (cells) =>
    console.log(cells.map((c, i) => (i === 0 ? c.padEnd(widths[0]) : c.padStart(widths[i]))).join(''))
  line(head)
  for (const [name, pick, theirs, target] of rows) {
    line([name, ...columns.map((c) => ms(pick(c))), theirs === undefined ? '' : `${theirs} ms`, target ?? ''])
  }
  for (const [name, p, theirs, target] of [
    ['recreate p50', 50, INTEGRESQL.recreate.p50, `≤ ${TARGET.recreateP50} ms`],
    ['recreate p95', 95, INTEGRESQL.recreate.p95, '—'],
  ]) {
    line([name, ...columns.map((_, i) => (i === 0 ? ms(pct(recreate, p)) : '')), `${theirs} ms`, target])
  }
  console.log(
    "\nin the server: request parsed → answer handed to the socket (on CPU: the serving process's CPU time in that span); + writing it: until written (this process can lose its core to the client it wakes); waiting for a core: of both, the time the serving thread was runnable but not running",
  )
  for (const s of columns) {
    const rate = (TESTS / s.ms) * 1000
    const pool = s.pool
      ? `; ${s.pool.waited} of ${TESTS} checkouts found no database ready; ${s.pool.created} created`
      : ''
    console.log(
      `${s.label.padEnd(6)} ${(s.ms / 1000).toFixed(1)} s (${rate.toFixed(0)} tests/s); serving process: event loop busy ${(s.busy * 100).toFixed(0)} % of the time on ${((s.cpuMs / s.ms) * 100).toFixed(0)} % of a core${pool}`,
    )
  }
  console.log(`load average ${load()} after`)
} finally {
  await cluster.stop()
}
