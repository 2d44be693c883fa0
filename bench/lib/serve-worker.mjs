// One test process of bench/serve.mjs's fleet: runs its share of the tests one after another. A test
// checks a database out over HTTP (timed), connects, writes and reads, spends `pace` ms in its own
// code, closes, and gives the database back dirty (recreate). Prints the checkout times as JSON.
// Against bench/serve.mjs's bare HTTP server (the floor) it does the same: that server answers
// every checkout with one shared database, and anything else alike.
// HTTP goes through node:http with a keep-alive agent, as IntegreSQL's Go client keeps its
// connection (undici's fetch adds about 0.7 ms of its own per request here).
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { performance } from 'node:perf_hooks'
import pg from 'pg'

const [base, hash, count, pace] = process.argv.slice(2)
const dsn = (c) =>
  `postgres://${encodeURIComponent(c.username)}:${encodeURIComponent(c.password)}@${c.host}:${c.port}/${c.database}`

const agent = new http.Agent({ keepAlive: true })
function call(method, url) {
  return new Promise((resolve, reject) => {
    http
      .request(url, { method, agent }, (response) => {
        let body = ''
        response.setEncoding('utf8')
        response.on('data', (chunk) => (body += chunk))
        response.on('end', () =>
          resolve({ status: response.statusCode, json: body ? JSON.parse(body) : undefined }),
        )
      })
      .on('error', reject)
      .end()
  })
}

const checkouts = []
for (let i = 0; i < Number(count); i++) {
  const t0 = performance.now()
  const { status, json: test } = await call('GET', `${base}/templates/${hash}/tests`)
  checkouts.push(performance.now() - t0)
  if (status !== 200) throw new Error(`checkout answered ${status}: ${test?.message}`)
  const client = new pg.Client({ connectionString: dsn(test.database.config) })
  await client.connect()
  await client.query("insert into users (email) values ('bench-' || gen_random_uuid())")
  await client.query('select count(*) from posts join users on users.id = posts.user_id')
  if (Number(pace) > 0) await sleep(Number(pace))
  await client.end()
  await call('POST', `${base}/templates/${hash}/tests/${test.id}/recreate`)
}
agent.destroy()
process.stdout.write(JSON.stringify(checkouts))
