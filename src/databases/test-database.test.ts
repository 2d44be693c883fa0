import { afterAll, beforeAll, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../servers/start-server.js'
import { withClient } from './admin.js'
import { openTestDatabase } from './test-database.js'
import { privateRunRoot } from '../../test/support/run-root.js'

privateRunRoot('test-database')

let pgc: StartedServer
const lease = () => ({ name: pgc.database, url: pgc.url, adminUrl: pgc.superuser.url })

beforeAll(async () => {
  pgc = await startServer({ name: 'test-database', quiet: true })
})
afterAll(() => pgc?.stop())

/** Backends of the app user right now (the superuser's own session does not count). */
const appSessions = () =>
  withClient(pgc.superuser.url, async (c) => {
    const { rows } = await c.query<{ n: number }>(
      'select count(*)::int as n from pg_stat_activity where usename = $1',
      [pgc.user],
    )
    return rows[0]!.n
  })

test('a test database nobody queries opens no connection', async () => {
  const db = await openTestDatabase(lease())
  expect(db.name).toBe(pgc.database)
  expect(db.url).toBe(pgc.url)
  expect(await appSessions()).toBe(0)
  await db.close()
  expect(await appSessions()).toBe(0)
})

test('db.client, db.query and db.sql share one connection, opened on first use and ended by close', async () => {
  const db = await openTestDatabase(lease())
  // Sent before the connection is up: queued on the client until it is.
  const early = db.client.query<{ one: number }>('select 1 as one')
  expect(db.client).toBe(db.client)
  expect((await early).rows).toEqual([{ one: 1 }])
  expect(await db.query<{ two: number }>('select $1::int as two', [2])).toEqual([{ two: 2 }])
  expect(await db.sql<{ three: number }>`select ${3}::int as three`).toEqual([{ three: 3 }])
  expect(await appSessions()).toBe(1)
  await db.close()
  expect(await appSessions()).toBe(0)
})

test('a connection that fails surfaces on the query that needed it, and close still resolves', async () => {
  const url = new URL(pgc.url)
  url.password = 'wrong'
  const db = await openTestDatabase({ ...lease(), url: url.toString() })
  await expect(db.query('select 1')).rejects.toThrow(/password authentication failed/)
  await expect(db.client.query('select 1')).rejects.toThrow()
  await db.close()
})
