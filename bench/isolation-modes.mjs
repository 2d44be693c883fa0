/**
 * Transaction and truncate isolation, measured at their core on one real server (20 tables):
 *   - per-test overhead of transaction mode (beginTest + endTest through pgrig's session) next to
 *     a bare BEGIN … ROLLBACK on a direct connection (the floor);
 *   - one statement through transaction mode's in-process endpoint (outside and inside an
 *     application transaction) next to the same statement on a direct connection;
 *   - truncate mode's reset when the test wrote nothing (skipped) and when it wrote to one table,
 *     next to a plain TRUNCATE of all 20 tables every time;
 *   - the same reset on 20 tables that hold 4,000 seed rows between them (put back after each
 *     test): nothing written, one table written (one no other table references), all written.
 * Run: `npm run build && node bench/isolation-modes.mjs [--runs N] [--seed-rows N]` (default 300
 * per row, 4000 seed rows).
 * The functions `measureTransactionOverhead` and `measureTruncateReset` are exported for the
 * issue-3 bench. Other load on the machine shows up directly in the numbers.
 */
import { performance } from 'node:perf_hooks'
import { URL, fileURLToPath } from 'node:url'
import pg from 'pg'
import { createTransactionIsolation, createTruncateIsolation, markOwned, startServer } from '../dist/index.js'
// pgrig's own naming rule for a worker database: internal, so from the built module itself.
import { workerDatabaseName } from '../dist/databases/guard.js'

const TABLES = Array.from({ length: 20 }, (_, i) => `t${i + 1}`)
const SCHEMA = TABLES.map(
  (t, i) =>
    `create table ${t} (id serial primary key, ${i > 0 ? `parent_id int references ${TABLES[i - 1]} (id),` : ''} name text not null);`,
).join('\n')

function p50(samples) {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? NaN
}
function p95(samples) {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.95))] ?? NaN
}

async function timed(runs, fn) {
  const samples = []
  for (let i = 0; i < runs; i++) samples.push(await fn(i))
  return { p50: p50(samples), p95: p95(samples) }
}

/**
 * One whole test in transaction mode on `url` (a pgrig-marked worker database): beginTest(), one
 * insert through the session, endTest(). Subtract the same insert on a direct connection to get
 * the per-test overhead.
 */
export async function measureTransactionOverhead({ url, runId, runs = 300 }) {
  const iso = await createTransactionIsolation({ url, runId })
  const app = new pg.Client({ connectionString: iso.url })
  await iso.beginTest()
  await app.connect()
  await iso.endTest()
  try {
    return await timed(runs, async (i) => {
      const t0 = performance.now()
      await iso.beginTest()
      await app.query('insert into t1 (name) values ($1)', [`r${i}`])
      await iso.endTest()
      return performance.now() - t0
    })
  } finally {
    await app.end()
    await iso.close()
  }
}

/** Truncate mode's reset() on `url`: after a test that wrote nothing, and after one insert. */
export async function measureTruncateReset({ url, runId, runs = 300 }) {
  const iso = await createTruncateIsolation({ url, runId })
  const app = new pg.Client({ connectionString: url })
  await app.connect()
  try {
    await iso.reset()
    const clean = await timed(runs, async () => {
      const t0 = performance.now()
      await iso.reset()
      return performance.now() - t0
    })
    const dirty = await timed(Math.ceil(runs / 3), async (i) => {
      await app.query('insert into t1 (name) values ($1)', [`r${i}`])
      const t0 = performance.now()
      await iso.reset()
      return performance.now() - t0
    })
    return { clean, dirty }
  } finally {
    await app.end()
    await iso.close()
  }
}

/** The 20 tables' seed: `total` rows spread evenly, each row's parent the same id one table up. */
function seedSql(total) {
  const per = Math.max(1, Math.round(total / TABLES.length))
  return TABLES.map(
    (t, i) =>
      `insert into ${t} (${i > 0 ? 'parent_id, ' : ''}name) select ${i > 0 ? 'g, ' : ''}'seed ' || g from generate_series(1, ${per}) g;`,
  ).join('\n')
}

/**
 * Truncate mode's reset() on `url` whose 20 tables hold seed rows: after a test that wrote
 * nothing, one that wrote to the last table (no foreign key points at it), one that wrote to all.
 */
export async function measureSeededReset({ url, runId, runs = 300 }) {
  const iso = await createTruncateIsolation({ url, runId })
  const app = new pg.Client({ connectionString: url })
  await app.connect()
  try {
    const clean = await timed(runs, async () => {
      const t0 = performance.now()
      await iso.reset()
      return performance.now() - t0
    })
    const one = await timed(Math.ceil(runs / 3), async (i) => {
      await app.query(`insert into ${TABLES.at(-1)} (name) values ($1)`, [`r${i}`])
      const t0 = performance.now()
      await iso.reset()
      return performance.now() - t0
    })
    const all = await timed(Math.ceil(runs / 10), async (i) => {
      await app.query(TABLES.map((t) => `insert into ${t} (name) values ('r${i}')`).join(';'))
      const t0 = performance.now()
      const result = await iso.reset()
      if (result.restored.length !== TABLES.length)
        throw new Error(`restored ${result.restored.length} tables`)
      return performance.now() - t0
    })
    return { clean, one, all }
  } finally {
    await app.end()
    await iso.close()
  }
}

async function main() {
  const at = process.argv.indexOf('--runs')
  const runs = at > 0 ? Number(process.argv[at + 1]) : 300
  const seedAt = process.argv.indexOf('--seed-rows')
  const seedRows = seedAt > 0 ? Number(process.argv[seedAt + 1]) : 4000
  const server = await startServer({ name: 'bench-isolation', quiet: true })
  const admin = new pg.Client({ connectionString: server.superuser.url })
  const runId = 'benchiso'
  const rows = []
  try {
    await admin.connect()
    const urls = []
    for (const n of [1, 2, 3]) {
      const name = workerDatabaseName(runId, n)
      await admin.query(`create database ${name} owner "${server.user}"`)
      await markOwned(admin, name, { runId, kind: 'worker' })
      const url = new URL(server.url)
      url.pathname = `/${name}`
      urls.push(url.toString())
      const c = new pg.Client({ connectionString: url.toString() })
      await c.connect()
      await c.query(SCHEMA)
      if (n === 3) await c.query(seedSql(seedRows))
      await c.end()
    }

    const direct = new pg.Client({ connectionString: urls[0] })
    await direct.connect()
    const bare = await timed(runs, async (i) => {
      const t0 = performance.now()
      await direct.query('insert into t1 (name) values ($1)', [`b${i}`])
      return performance.now() - t0
    })
    const floor = await timed(runs, async (i) => {
      const t0 = performance.now()
      await direct.query('BEGIN')
      await direct.query('insert into t1 (name) values ($1)', [`r${i}`])
      await direct.query('ROLLBACK')
      return performance.now() - t0
    })
    const txMode = await measureTransactionOverhead({ url: urls[0], runId, runs })
    rows.push(['one-insert test, no isolation (direct connection, autocommit)', bare])
    rows.push(['one-insert test, BEGIN … ROLLBACK on a direct connection', floor, bare])
    rows.push(['one-insert test, transaction mode (beginTest, insert via session, endTest)', txMode, bare])

    const selectDirect = await timed(runs, async () => {
      const t0 = performance.now()
      await direct.query('select $1::int as x', [1])
      return performance.now() - t0
    })
    await direct.end()
    const iso = await createTransactionIsolation({ url: urls[0], runId })
    const app = new pg.Client({ connectionString: iso.url })
    await iso.beginTest()
    await app.connect()
    const selectOutside = await timed(runs, async () => {
      const t0 = performance.now()
      await app.query('select $1::int as x', [1])
      return performance.now() - t0
    })
    await app.query('BEGIN')
    const selectInside = await timed(runs, async () => {
      const t0 = performance.now()
      await app.query('select $1::int as x', [1])
      return performance.now() - t0
    })
    await app.query('COMMIT')
    await iso.endTest()
    await app.end()
    await iso.close()
    rows.push(['one SELECT: direct connection', selectDirect])
    rows.push(['one SELECT: transaction mode, autocommit (own savepoint)', selectOutside, selectDirect])
    rows.push(['one SELECT: transaction mode, inside BEGIN … COMMIT', selectInside, selectDirect])

    const truncate = await measureTruncateReset({ url: urls[1], runId, runs })
    const plain = new pg.Client({ connectionString: urls[1] })
    await plain.connect()
    const everyTime = await timed(Math.ceil(runs / 3), async () => {
      const t0 = performance.now()
      await plain.query(`truncate ${TABLES.join(', ')} restart identity cascade`)
      return performance.now() - t0
    })
    await plain.end()
    rows.push(['reset: plain TRUNCATE of all 20 tables, every test', everyTime])
    rows.push(['reset: truncate mode, test wrote to one table', truncate.dirty])
    rows.push(['reset: truncate mode, test wrote nothing (skipped)', truncate.clean])

    const seeded = await measureSeededReset({ url: urls[2], runId, runs })
    const label = `reset, 20 tables holding ${seedRows} seed rows`
    rows.push([`${label}: test wrote nothing`, seeded.clean])
    rows.push([`${label}: test wrote one table (none references it)`, seeded.one])
    rows.push([`${label}: test wrote all 20 (each refilled)`, seeded.all])
  } finally {
    await admin.end().catch(() => {})
    await server.stop()
  }
  console.log(`\nIsolation modes at their core (PostgreSQL ${server.version}, ${runs} runs per row, ms)\n`)
  console.log('| what | p50 | p95 | p50 over the row it builds on |\n|---|---:|---:|---:|')
  for (const [name, s, base] of rows) {
    const extra = base ? `+${(s.p50 - base.p50).toFixed(3)}` : ''
    console.log(`| ${name} | ${s.p50.toFixed(3)} | ${s.p95.toFixed(3)} | ${extra} |`)
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(error)
    process.exitCode = 1
  })
}
