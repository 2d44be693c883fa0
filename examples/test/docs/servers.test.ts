/**
 * docs/servers.md's code, run: a server from code, and the trio config (examples/configs/trio) under
 * `pgrig run`.
 */
import { execFile } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { expect, onTestFinished, test } from 'vitest'
import { query } from './query.js'
// #region start-server
import { startServer } from 'pgrig'
// #endregion start-server

const cli = fileURLToPath(new URL('../../../dist/cli/main.js', import.meta.url))
const examples = fileURLToPath(new URL('../..', import.meta.url))

const tenants = async (url: string) =>
  (await query<{ name: string }>(url, 'select name from tenants order by name')).map((r) => r.name)

test('a TLS server from code: restart and crash keep its data', async () => {
  const cwd = process.cwd()
  process.chdir(examples) // initSql paths are relative to the working directory
  onTestFinished(() => process.chdir(cwd))
  // #region start-server
  await using pg = await startServer({ profile: 'tls', initSql: ['./migrations', './seed.sql'] })
  const url = pg.url // postgresql://app:…@127.0.0.1:…/app?sslmode=verify-full&sslrootcert=…
  const admin = pg.superuser.url
  await pg.restart() // clean restart, same port and data
  await pg.crash() // SIGKILL of postmaster and backends, then a start through crash recovery
  // stop() runs at the end of the scope; it is idempotent
  // #endregion start-server
  expect(url).toMatch(/sslmode=verify-full&sslrootcert=/)
  expect(admin).toMatch(/^postgresql:\/\/postgres:.*\/postgres\?/) // the superuser on the postgres database
  expect(await tenants(url)).toEqual(['acme', 'globex'])
}, 120_000)

test('the trio config: pgrig run exports a plain, a TLS and a client-certificate server', async () => {
  // Under the run: each server's URL, and the seed's rows read through it.
  const script = `const pg = require('pg');
    (async () => {
      const out = []
      for (const url of [process.env.PGRIG_PLAIN_URL, process.env.PGRIG_TLS_URL, process.env.PGRIG_CERT_URL]) {
        const client = new pg.Client({ connectionString: url })
        await client.connect()
        const { rows } = await client.query('select body from notes order by id')
        await client.end()
        out.push({ url, notes: rows.map((r) => r.body) })
      }
      console.log(JSON.stringify(out))
    })()`
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [cli, 'run', '--quiet', '--', process.execPath, '-e', script],
    {
      cwd: path.join(examples, 'configs/trio'),
    },
  )
  const [plain, tls, cert] = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
    url: string
    notes: string[]
  }[]
  expect(plain!.url).toMatch(/sslmode=disable$/) // stated, so lib/pq (default require) connects as given
  expect(tls!.url).toMatch(/sslmode=verify-full/)
  expect(cert!.url).toMatch(/sslcert=/)
  for (const server of [plain, tls, cert]) expect(server!.notes).toEqual(['first', 'second'])
}, 180_000)
