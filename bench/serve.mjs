/**
 * pgrig serve against IntegreSQL's published figures, on IntegreSQL's 563-test shape: each test
 * checks a database out over HTTP, touches it, and gives it back dirty (recreate).
 *
 *   - checkout: client-side time of GET /api/v1/templates/:hash/tests (HTTP included), per test;
 *   - recreate: what the pool does in the background for a dirty database (DROP … WITH (FORCE),
 *     then CREATE DATABASE … TEMPLATE … STRATEGY file_copy), timed on the same server and template.
 * IntegreSQL's figures are its own (v1.1 release notes, 563 tests); this machine's other load shows
 * up in pgrig's numbers directly.
 *
 * Run: `npm run bench:serve` (builds dist/, then `node bench/serve.mjs`). `--tests N` (default 563),
 * `--workers N` tests side by side (default 4), `--recreates N` samples (default 100).
 */
/* global fetch */
import { setTimeout as sleep } from 'node:timers/promises'
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import { startCluster } from '../dist/cluster/cluster.js'
import { startServe } from '../dist/serve/index.js'

import { intArg } from './lib/args.mjs'

const TESTS = intArg('tests', 563)
const WORKERS = intArg('workers', 4)
const RECREATES = intArg('recreates', 100)
const INTEGRESQL = { checkout: { p50: 0, p95: 1, max: 72 }, recreate: { p50: 68, p95: 80 } }

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]
const dsn = (c) =>
  `postgres://${encodeURIComponent(c.username)}:${encodeURIComponent(c.password)}@${c.host}:${c.port}/${c.database}`

async function sql(url, text) {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(text)).rows
  } finally {
    await client.end()
  }
}

const cluster = await startCluster({ name: 'bench-serve', quiet: true })
const api = await startServe({ server: cluster.info, port: 0, poolSize: WORKERS * 2, poolMax: WORKERS * 6 })
const base = `${api.baseUrl}/v1`
try {
  const hash = `bench-${Date.now()}`
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
  // Let the pool fill before the first test, as a suite's setup time would.
  await sleep(1000)

  const checkouts = []
  let next = 0
  const worker = async () => {
    while (next < TESTS) {
      next++
      const t0 = performance.now()
      const test = await (await fetch(`${base}/templates/${hash}/tests`)).json()
      checkouts.push(performance.now() - t0)
      const client = new pg.Client({ connectionString: dsn(test.database.config) })
      await client.connect()
      await client.query("insert into users (email) values ('bench-' || gen_random_uuid())")
      await client.query('select count(*) from posts join users on users.id = posts.user_id')
      await client.end()
      await fetch(`${base}/templates/${hash}/tests/${test.id}/recreate`, { method: 'POST' })
    }
  }
  const suiteStart = performance.now()
  await Promise.all(Array.from({ length: WORKERS }, worker))
  const suiteMs = performance.now() - suiteStart

  // The pool's background work for one dirty database, on the same template.
  const template = (
    await sql(cluster.superuser.url, "select datname from pg_database where datname like 'pgrig\\_tpl\\_%'")
  ).map((r) => r.datname)[0]
  const admin = new pg.Client({ connectionString: cluster.superuser.url })
  await admin.connect()
  const recreates = []
  await admin.query(`create database pgrig_benchrecreate_1 template ${template} strategy file_copy`)
  for (let i = 0; i < RECREATES; i++) {
    const t0 = performance.now()
    await admin.query('drop database if exists pgrig_benchrecreate_1 with (force)')
    await admin.query(`create database pgrig_benchrecreate_1 template ${template} strategy file_copy`)
    recreates.push(performance.now() - t0)
  }
  await admin.query('drop database if exists pgrig_benchrecreate_1 with (force)')
  await admin.end()

  checkouts.sort((a, b) => a - b)
  recreates.sort((a, b) => a - b)
  const ms = (v) => `${v.toFixed(1)} ms`
  const rows = [
    ['checkout p50 (HTTP)', ms(pct(checkouts, 50)), `${INTEGRESQL.checkout.p50} ms`],
    ['checkout p95 (HTTP)', ms(pct(checkouts, 95)), `${INTEGRESQL.checkout.p95} ms`],
    ['checkout max (HTTP)', ms(checkouts.at(-1)), `${INTEGRESQL.checkout.max} ms`],
    ['recreate p50', ms(pct(recreates, 50)), `${INTEGRESQL.recreate.p50} ms`],
    ['recreate p95', ms(pct(recreates, 95)), `${INTEGRESQL.recreate.p95} ms`],
  ]
  console.log(
    `pgrig serve, ${TESTS} tests, ${WORKERS} side by side, PostgreSQL ${cluster.info.version} (suite ${(suiteMs / 1000).toFixed(1)} s)\n`,
  )
  console.log(`${'figure'.padEnd(22)}${'pgrig'.padStart(12)}${'IntegreSQL'.padStart(14)}`)
  for (const [name, ours, theirs] of rows)
    console.log(`${name.padEnd(22)}${ours.padStart(12)}${theirs.padStart(14)}`)
} finally {
  await api.close()
  await cluster.stop()
}
