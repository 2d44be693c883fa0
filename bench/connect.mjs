/**
 * What two server defaults cost on a test's path, each side by side with the other choice, on one
 * real server (node-postgres over TCP, the way a test connects):
 *   - a new connection (connect + `SELECT 1` + end) for a role whose password is stored with 16
 *     SCRAM iterations (pgrig's old count for generated passwords) and one with 4096 (PostgreSQL's
 *     default, what pgrig stores now: clients such as Go's lib/pq refuse fewer);
 *   - `synchronous_commit` off (pgrig's old default) and on (the default now): a test body of 20
 *     autocommit inserts on one connection, and a clone's `CREATE DATABASE … TEMPLATE` + `DROP`.
 * Runs alternate between the two sides so load on the machine hits both alike.
 * Run: `npm run bench:connect [-- --runs N]` (default 200 per row).
 */
import { performance } from 'node:perf_hooks'
import { URL } from 'node:url'
import pg from 'pg'
import { startServer } from '../dist/index.js'
import { passwordVerifier } from '../dist/servers/password-verifier.js'
import { intArg } from './lib/args.mjs'

const runs = intArg('runs', 200)

function quantile(samples, q) {
  const sorted = [...samples].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? NaN
}

/** Runs `a` and `b` alternately `runs` times each; returns their samples in ms. */
async function sideBySide(a, b) {
  const samples = { a: [], b: [] }
  for (let i = 0; i < runs; i++) {
    for (const [side, fn] of i % 2
      ? [
          ['b', b],
          ['a', a],
        ]
      : [
          ['a', a],
          ['b', b],
        ]) {
      const t0 = performance.now()
      await fn(i)
      samples[side].push(performance.now() - t0)
    }
  }
  return samples
}

const rows = []
function row(what, samples) {
  rows.push({ what, p50: quantile(samples, 0.5), p90: quantile(samples, 0.9) })
}

const server = await startServer({ name: 'bench-connect', quiet: true })
try {
  const admin = new pg.Client({ connectionString: server.superuser.url })
  await admin.connect()
  const url = (user, password, database = server.database) => {
    const u = new URL(server.url)
    u.username = user
    u.password = password
    u.pathname = `/${database}`
    return u.toString()
  }
  for (const iterations of [16, 4096]) {
    const verifier = await passwordVerifier(`i${iterations}`, 'bench-password', 'scram-sha-256', iterations)
    await admin.query(`create role i${iterations} login password '${verifier}'`)
    await admin.query(`grant all on database ${server.database} to i${iterations}`)
  }
  const connectOnce = (user) => async () => {
    const client = new pg.Client({ connectionString: url(user, 'bench-password') })
    await client.connect()
    await client.query('select 1')
    await client.end()
  }
  const connect = await sideBySide(connectOnce('i16'), connectOnce('i4096'))
  row('connect + SELECT 1 + end, 16 SCRAM iterations', connect.a)
  row('connect + SELECT 1 + end, 4096 SCRAM iterations (now)', connect.b)

  await admin.query('create table bench_rows (id serial primary key, body text)')
  const session = async (setting) => {
    const client = new pg.Client({ connectionString: server.superuser.url })
    await client.connect()
    await client.query(`set synchronous_commit = ${setting}`)
    return client
  }
  const [off, on] = [await session('off'), await session('on')]
  const inserts = (client) => async (i) => {
    for (let k = 0; k < 20; k++)
      await client.query('insert into bench_rows (body) values ($1)', [`r${i}.${k}`])
  }
  const body = await sideBySide(inserts(off), inserts(on))
  row('20 autocommit inserts, synchronous_commit off', body.a)
  row('20 autocommit inserts, synchronous_commit on (now)', body.b)

  await admin.query('create database bench_template')
  const clone = (client, tag) => async (i) => {
    await client.query(`create database bench_${tag}_${i} template bench_template`)
    await client.query(`drop database bench_${tag}_${i}`)
  }
  const clones = await sideBySide(clone(off, 'off'), clone(on, 'on'))
  row('CREATE DATABASE … TEMPLATE + DROP, synchronous_commit off', clones.a)
  row('CREATE DATABASE … TEMPLATE + DROP, synchronous_commit on (now)', clones.b)
  await Promise.all([off.end(), on.end(), admin.end()])
} finally {
  await server.stop()
}

const width = Math.max(...rows.map((r) => r.what.length))
console.log(`${runs} runs per row, alternating; ms`)
console.log(`| ${'what'.padEnd(width)} | p50 ms | p90 ms |`)
console.log(`| ${'-'.repeat(width)} | -----: | -----: |`)
for (const r of rows) {
  console.log(
    `| ${r.what.padEnd(width)} | ${r.p50.toFixed(2).padStart(6)} | ${r.p90.toFixed(2).padStart(6)} |`,
  )
}
