import pg from 'pg'
import { connect, expect, test } from './fixtures.js'

test('a pool hands out at most max connections, times out the rest, and serves waiters on release', async ({
  db,
}) => {
  const pool = new pg.Pool({ connectionString: db.url, max: 2, connectionTimeoutMillis: 300 })
  try {
    const a = await pool.connect()
    const b = await pool.connect()
    expect(pool.totalCount).toBe(2)
    await expect(pool.connect()).rejects.toThrow(/timeout exceeded when trying to connect/i)

    const waiter = pool.connect()
    expect(pool.waitingCount).toBe(1)
    a.release()
    const c = await waiter
    expect((await c.query('SELECT count(*)::int AS n FROM products')).rows).toEqual([{ n: 4 }])
    c.release()
    b.release()
    expect(pool.idleCount).toBe(2)
  } finally {
    await pool.end()
  }
})

test('the server refuses connections past the database limit with 53300, and accepts again once one closes', async ({
  db,
  defer,
}) => {
  const admin = await connect(db.adminUrl, defer)
  // Only this test's database gets the limit; superusers are exempt from it.
  await admin.query(`ALTER DATABASE ${pg.escapeIdentifier(db.name)} CONNECTION LIMIT 3`)
  const open: pg.Client[] = []
  defer(() => Promise.all(open.map((c) => c.end().catch(() => {}))))
  let refusal: unknown
  for (let i = 0; i < 5 && !refusal; i++) {
    const client = new pg.Client({ connectionString: db.url })
    client.on('error', () => {})
    try {
      await client.connect()
      open.push(client)
    } catch (error) {
      refusal = error
    }
  }
  expect(refusal).toMatchObject({ code: '53300', message: expect.stringMatching(/too many connections/) })

  await open.pop()!.end()
  const again = await connect(db.url, defer)
  expect((await again.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }])
})

test('a pool recovers when the server terminates its connections', async ({ db, defer }) => {
  const pool = new pg.Pool({ connectionString: db.url, max: 3 })
  defer(() => pool.end())
  const errors: Error[] = []
  // An idle pooled connection that dies is reported here and thrown away; without a listener, Node would crash.
  pool.on('error', (error) => errors.push(error))

  const clients = await Promise.all([1, 2, 3].map(() => pool.connect()))
  const pids = await Promise.all(
    clients.map(async (c) => (await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid),
  )
  clients.forEach((c) => c.release())

  // What a failover or an admin's pg_terminate_backend does to idle pooled connections.
  const admin = await connect(db.adminUrl, defer)
  await admin.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [pids])
  await expect.poll(() => errors.length).toBe(3)
  expect(errors[0]!.message).toMatch(/terminating connection due to administrator command/)
  expect(pool.totalCount).toBe(0)

  const { rows } = await pool.query('SELECT count(*)::int AS n FROM customers')
  expect(rows).toEqual([{ n: 3 }])
})

test('a query that runs too long is cancelled by statement_timeout and the connection stays usable', async ({
  db,
}) => {
  await db.query("SET statement_timeout = '50ms'")
  await expect(db.query('SELECT pg_sleep(5)')).rejects.toMatchObject({ code: '57014' })
  await db.query('RESET statement_timeout')
  expect(await db.sql`SELECT ${'still here'}::text AS answer`).toEqual([{ answer: 'still here' }])
})
