import pg from 'pg'
import postgres from 'postgres'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../servers/start-server.js'
import { isPgrigError } from '../errors.js'
import { markOwned, workerDatabaseName } from './guard.js'
import { quoteIdentifier } from '../servers/sql-quote.js'
import { createTransactionIsolation, type TransactionIsolation } from './transaction-mode.js'

const runId = 'txmode01'

describe('transaction isolation', () => {
  let server: StartedServer
  let admin: pg.Client
  let workerUrl: string
  let iso: TransactionIsolation
  /** A connection straight to the database, outside the test's session. */
  let outside: pg.Client
  const opened: { end(): Promise<unknown> }[] = []

  async function connect(): Promise<pg.Client> {
    const client = new pg.Client({ connectionString: iso.url })
    opened.push(client)
    await client.connect()
    return client
  }
  async function count(client: pg.Client | pg.Pool = outside): Promise<number> {
    return (await client.query<{ n: number }>('select count(*)::int as n from accounts')).rows[0]?.n ?? -1
  }

  beforeAll(async () => {
    server = await startServer({ name: 'txmode' })
    admin = new pg.Client({ connectionString: server.superuser.url })
    await admin.connect()
    const name = workerDatabaseName(runId, 1)
    await admin.query(`create database ${quoteIdentifier(name)} owner ${quoteIdentifier(server.user)}`)
    await markOwned(admin, name, { runId, kind: 'worker' })
    const url = new URL(server.url)
    url.pathname = `/${name}`
    workerUrl = url.toString()
    outside = new pg.Client({ connectionString: workerUrl })
    await outside.connect()
    await outside.query(
      `create table accounts (id serial primary key, name text unique not null, balance int default 0)`,
    )
    iso = await createTransactionIsolation({ url: workerUrl, runId })
  })
  afterAll(async () => {
    await iso?.close()
    await outside?.end()
    await admin?.end()
    await server?.stop()
  })
  beforeEach(() => iso.beginTest())
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((c) => c.end().catch(() => {})))
    await iso.endTest()
  })

  test('COMMIT AND CHAIN outside a transaction fails as it does on the server itself', async () => {
    const app = await connect()
    for (const sql of ['COMMIT AND CHAIN', 'ROLLBACK AND CHAIN', 'select 1; COMMIT AND CHAIN']) {
      const failure = (client: pg.Client) =>
        client.query(sql).then(
          () => ({ code: 'none', message: 'succeeded' }),
          (error: pg.DatabaseError) => error,
        )
      const direct = await failure(outside)
      const proxied = await failure(app)
      expect(direct.code, sql).toBe('25P01')
      expect({ code: proxied.code, message: proxied.message }, sql).toEqual({
        code: direct.code,
        message: direct.message,
      })
    }
    // and the session goes on, outside any transaction
    expect((await app.query('select 1 as one')).rows).toEqual([{ one: 1 }])
    expect(await count(app)).toBe(0)
  })

  test('a COMMIT by the code under test is seen by its other connections, and gone after the test', async () => {
    const app = await connect()
    await app.query('BEGIN')
    await app.query(`insert into accounts (name) values ($1)`, ['alice'])
    expect((await app.query('COMMIT')).command).toBe('COMMIT')
    const other = await connect()
    expect(await count(other)).toBe(1)
    // Nothing was committed for real.
    expect(await count(outside)).toBe(0)
    await iso.endTest()
    await iso.beginTest()
    expect(await count(await connect())).toBe(0)
  })

  test('ROLLBACK undoes only the application transaction; a failed COMMIT reports ROLLBACK', async () => {
    const app = await connect()
    await app.query(`insert into accounts (name) values ('kept')`)
    await app.query('BEGIN')
    await app.query(`insert into accounts (name) values ('undone')`)
    await app.query('ROLLBACK')
    expect((await app.query('select name from accounts')).rows).toEqual([{ name: 'kept' }])

    await app.query('BEGIN')
    await app.query(`insert into accounts (name) values ('lost')`)
    await expect(app.query(`insert into accounts (name) values ('kept')`)).rejects.toThrow(/duplicate key/)
    await expect(app.query('select 1')).rejects.toThrow(/current transaction is aborted/)
    expect((await app.query('COMMIT')).command).toBe('ROLLBACK')
    expect((await app.query('select name from accounts order by 1')).rows).toEqual([{ name: 'kept' }])
  })

  test('an expected error outside a transaction does not poison the rest of the test', async () => {
    const app = await connect()
    await app.query(`insert into accounts (name) values ('a')`)
    const error = await app.query(`insert into accounts (name) values ('a')`).catch((e: unknown) => e)
    expect((error as { code?: string }).code).toBe('23505')
    await app.query(`insert into accounts (name) values ('b')`)
    expect((await app.query('select name from accounts order by 1')).rows.map((r) => r.name)).toEqual([
      'a',
      'b',
    ])
  })

  test('user savepoints pass through untouched inside an application transaction', async () => {
    const app = await connect()
    await app.query('BEGIN')
    await app.query(`insert into accounts (name) values ('one')`)
    await app.query('SAVEPOINT sp1')
    await app.query(`insert into accounts (name) values ('two')`)
    await app.query('ROLLBACK TO SAVEPOINT sp1')
    await app.query('RELEASE SAVEPOINT sp1')
    await app.query('COMMIT')
    expect((await app.query('select name from accounts')).rows).toEqual([{ name: 'one' }])
  })

  test('node-postgres Pool: transactions, exhaustion and recovery, prepared statements by name', async () => {
    const pool = new pg.Pool({ connectionString: iso.url, max: 2 })
    opened.push(pool)
    const a = await pool.connect()
    const b = await pool.connect()
    let third = false
    const waiting = pool.connect().then((c) => {
      third = true
      return c
    })
    await new Promise((r) => setTimeout(r, 50))
    expect(third).toBe(false)
    a.release()
    const c = await waiting
    expect(third).toBe(true)
    b.release()
    c.release()

    const client = await pool.connect()
    try {
      await client.query('BEGIN')
      await client.query({
        name: 'ins',
        text: 'insert into accounts (name, balance) values ($1, $2)',
        values: ['p', 5],
      })
      await client.query('COMMIT')
    } finally {
      client.release()
    }
    // Same statement name from another connection: each client has its own namespace.
    const other = await connect()
    await other.query({ name: 'ins', text: 'select $1::text as name, $2::int as balance', values: ['q', 1] })
    expect((await pool.query('select name, balance from accounts')).rows).toEqual([{ name: 'p', balance: 5 }])
  })

  test('parallel queries from a pool outside transactions all run, one after another', async () => {
    const pool = new pg.Pool({ connectionString: iso.url, max: 5 })
    opened.push(pool)
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        pool.query<{ n: number }>('insert into accounts (name) values ($1) returning 1 as n', [`p${i}`]),
      ),
    )
    expect(results.map((r) => r.rows[0]?.n)).toEqual(Array(20).fill(1))
    expect(await count(pool)).toBe(20)
  })

  test('postgres.js: sql.begin, sql.savepoint and plain queries land in the test transaction', async () => {
    const sql = postgres(iso.url, { max: 3, onnotice: () => {} })
    opened.push(sql)
    await sql`insert into accounts (name) values ('plain')`
    const who = 'in-begin'
    await sql.begin(async (tx) => {
      // Parameters make postgres.js describe first (Parse, Describe, Flush), then bind.
      await tx`insert into accounts (name, balance) values (${who}, ${7})`
      await tx
        .savepoint(async (sp) => {
          await sp`insert into accounts (name) values ('in-savepoint')`
          throw new Error('undo the savepoint')
        })
        .catch(() => {})
    })
    await expect(
      sql.begin(async (tx) => {
        await tx`insert into accounts (name) values ('rolled-back')`
        await tx`insert into accounts (name) values ('plain')`
      }),
    ).rejects.toThrow(/duplicate key/)
    const names = await sql<{ name: string }[]>`select name from accounts where balance >= ${0} order by name`
    expect(names.map((r) => r.name)).toEqual(['in-begin', 'plain'])
    await expect(sql`select ${1}::int / 0`).rejects.toThrow(/division by zero/)
    await expect(sql`listen jobs`).rejects.toThrow(/cannot LISTEN/)
    expect(await sql`select count(*)::int as n from accounts where name = ${'plain'}`).toEqual([{ n: 1 }])
    expect(await count(await connect())).toBe(2)
    expect(await count(outside)).toBe(0)
  })

  test('COPY in and out pass through the session', async () => {
    const sql = postgres(iso.url, { max: 1, onnotice: () => {} })
    opened.push(sql)
    const writable = await sql`copy accounts (name, balance) from stdin`.writable()
    await new Promise<void>((resolve, reject) => {
      writable.on('finish', resolve)
      writable.on('error', reject)
      writable.write('c1\t1\nc2\t2\n')
      writable.end()
    })
    const app = await connect()
    expect((await app.query('select name, balance from accounts order by name')).rows).toEqual([
      { name: 'c1', balance: 1 },
      { name: 'c2', balance: 2 },
    ])
    const chunks: Buffer[] = []
    for await (const chunk of await sql`copy (select name from accounts order by name) to stdout`.readable()) {
      chunks.push(chunk as Buffer)
    }
    expect(Buffer.concat(chunks).toString()).toBe('c1\nc2\n')
  })

  test('a client cancel reaches the server and stops only that statement', async () => {
    const sql = postgres(iso.url, { max: 2, onnotice: () => {} })
    opened.push(sql)
    await sql`insert into accounts (name) values ('before')`
    const slow = sql`select pg_sleep(20)`.execute()
    setTimeout(() => void slow.cancel(), 200)
    const started = performance.now()
    await expect(slow).rejects.toThrow(/canceling statement due to user request/)
    expect(performance.now() - started).toBeLessThan(10_000)
    expect(await sql`select name from accounts`).toEqual([{ name: 'before' }])
  })

  test('a multi-statement query with BEGIN and COMMIT works as in autocommit', async () => {
    const app = await connect()
    await app.query(
      `begin; insert into accounts (name) values ('m1'); insert into accounts (name) values ('m2'); commit`,
    )
    expect(await count(app)).toBe(2)
    await app.query('select 1')
  })

  test('statements that cannot run in a transaction block name the mode to use; the test goes on', async () => {
    const app = await connect()
    await expect(app.query('CREATE DATABASE not_here')).rejects.toThrow(
      /CREATE DATABASE cannot run inside a transaction block \(pgrig transaction isolation runs every test inside one transaction; use isolation: 'database' or 'truncate' for this test\)/,
    )
    await expect(app.query('VACUUM accounts')).rejects.toThrow(/use isolation: 'database' or 'truncate'/)
    await expect(app.query('LISTEN jobs')).rejects.toThrow(
      /cannot LISTEN: notifications are delivered only when a transaction commits/,
    )
    await expect(app.query('BEGIN ISOLATION LEVEL SERIALIZABLE')).rejects.toThrow(
      /cannot take its own "isolation level serializable"; use isolation: 'database'/,
    )
    await app.query('BEGIN READ WRITE')
    await app.query('COMMIT')
    expect(await count(app)).toBe(0)
  })

  test('a second connection used while another is inside a transaction is a clear error', async () => {
    const first = await connect()
    const second = await connect()
    await first.query('BEGIN')
    await first.query(`insert into accounts (name) values ('uncommitted')`)
    await expect(second.query('select count(*) from accounts')).rejects.toThrow(
      /a second connection ran a statement while another connection was inside a transaction.*use isolation: 'database' or 'truncate'/,
    )
    await first.query('COMMIT')
    expect(await count(second)).toBe(1)
  })

  test('a client that disconnects inside its transaction has it rolled back', async () => {
    const app = await connect()
    await app.query('BEGIN')
    await app.query(`insert into accounts (name) values ('abandoned')`)
    await app.end()
    expect(await count(await connect())).toBe(0)
  })

  test('session advisory locks do not outlive the test', async () => {
    const app = await connect()
    await app.query('select pg_advisory_lock(42)')
    const probe = await outside.query<{ got: boolean }>('select pg_try_advisory_lock(42) as got')
    expect(probe.rows[0]?.got).toBe(false)
    await iso.endTest()
    const after = await outside.query<{ got: boolean }>('select pg_try_advisory_lock(42) as got')
    expect(after.rows[0]?.got).toBe(true)
    await outside.query('select pg_advisory_unlock(42)')
    await iso.beginTest()
  })

  test('queries outside a test are refused instead of committing', async () => {
    const app = await connect()
    await iso.endTest()
    await expect(app.query(`insert into accounts (name) values ('leak')`)).rejects.toThrow(
      /a query ran outside a test .* where it would commit for real/,
    )
    await iso.beginTest()
    expect(await count(outside)).toBe(0)
  })

  test('the handshake: a wrong password or database is refused as PostgreSQL refuses it; TLS is declined, not failed', async () => {
    const wrong = (change: (url: URL) => void) => {
      const url = new URL(iso.url)
      change(url)
      const client = new pg.Client({ connectionString: url.toString() })
      opened.push(client)
      return client.connect()
    }
    await expect(wrong((u) => (u.password = 'not-it'))).rejects.toMatchObject({ code: '28P01' })
    await expect(wrong((u) => (u.pathname = '/elsewhere'))).rejects.toMatchObject({
      code: '3D000',
      message: expect.stringMatching(/serves only database "pgrig_txmode01_w1", not "elsewhere"/),
    })
    // sslmode=prefer sends an SSLRequest first; the proxy answers N and the client goes on in plain
    const url = new URL(iso.url)
    url.searchParams.set('sslmode', 'prefer')
    const sql = postgres(url.toString(), { max: 1, connect_timeout: 10, onnotice: () => {} })
    opened.push(sql)
    expect(await sql`select 1 as one`).toEqual([{ one: 1 }])
  })

  test('install() points DATABASE_URL and PG* at the session; uninstall() restores them', async () => {
    const before = process.env.DATABASE_URL
    iso.install()
    try {
      expect(process.env.DATABASE_URL).toBe(iso.url)
      const client = new pg.Client()
      opened.push(client)
      await client.connect()
      await client.query(`insert into accounts (name) values ('env')`)
      expect(await count(client)).toBe(1)
    } finally {
      iso.uninstall()
    }
    expect(process.env.DATABASE_URL).toBe(before)
  })
})

describe('transaction isolation on a server that goes away', () => {
  test('refuses a database pgrig did not create; after a restart the next test gets a fresh session', async () => {
    await using server = await startServer({ name: 'txmode-restart' })
    const error = await createTransactionIsolation({ url: server.url }).catch((e: unknown) => e)
    expect(isPgrigError(error) && error.code).toBe('E_UNSAFE_TARGET')

    const admin = new pg.Client({ connectionString: server.superuser.url })
    await admin.connect()
    const name = workerDatabaseName(runId, 2)
    await admin.query(`create database ${name} owner ${quoteIdentifier(server.user)}`)
    await markOwned(admin, name, { runId, kind: 'worker' })
    await admin.end()
    const url = new URL(server.url)
    url.pathname = `/${name}`
    const iso = await createTransactionIsolation({ url: url.toString(), runId })
    try {
      await iso.beginTest()
      const before = new pg.Client({ connectionString: iso.url })
      before.on('error', () => {})
      await before.connect()
      await before.query('create table t (v int); insert into t values (1)')
      await server.restart()
      await expect(before.query('select 1')).rejects.toThrow()
      expect(await iso.endTest()).toEqual({ leftOpen: false })

      await iso.beginTest()
      const after = new pg.Client({ connectionString: iso.url })
      await after.connect()
      // The table was part of the dropped transaction.
      await expect(after.query('select * from t')).rejects.toThrow(/relation "t" does not exist/)
      await after.query('select 1')
      await after.end()
      await iso.endTest()
    } finally {
      await iso.close()
    }
  })
})
