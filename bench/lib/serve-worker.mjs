// One test process of bench/serve.mjs's fleet: runs its share of the tests one after another. A test
// checks a database out over HTTP (timed), connects, writes and reads, spends `pace` ms in its own
// code, closes, and gives the database back dirty (recreate). Prints the checkout times as JSON.
/* global fetch */
import { setTimeout as sleep } from 'node:timers/promises'
import { performance } from 'node:perf_hooks'
import pg from 'pg'

const [base, hash, count, pace] = process.argv.slice(2)
const dsn = (c) =>
  `postgres://${encodeURIComponent(c.username)}:${encodeURIComponent(c.password)}@${c.host}:${c.port}/${c.database}`

const checkouts = []
for (let i = 0; i < Number(count); i++) {
  const t0 = performance.now()
  const response = await fetch(`${base}/templates/${hash}/tests`)
  const test = await response.json()
  checkouts.push(performance.now() - t0)
  if (response.status !== 200) throw new Error(`checkout answered ${response.status}: ${test.message}`)
  const client = new pg.Client({ connectionString: dsn(test.database.config) })
  await client.connect()
  await client.query("insert into users (email) values ('bench-' || gen_random_uuid())")
  await client.query('select count(*) from posts join users on users.id = posts.user_id')
  if (Number(pace) > 0) await sleep(Number(pace))
  await client.end()
  await fetch(`${base}/templates/${hash}/tests/${test.id}/recreate`, { method: 'POST' })
}
process.stdout.write(JSON.stringify(checkouts))
