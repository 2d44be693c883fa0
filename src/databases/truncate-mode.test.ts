import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startCluster, type StartedCluster } from '../cluster/cluster.js'
import { isPgrigError } from '../errors.js'
import { markOwned, quoteIdentifier, workerDatabaseName } from './guard.js'
import { createTruncateIsolation } from './truncate-mode.js'

const runId = 'trunc001'

const SCHEMA = `
create table schema_migrations (version text primary key);
insert into schema_migrations values ('001'), ('002');
create table customers (id serial primary key, name text not null);
create table orders (id bigint generated always as identity primary key,
                     customer_id int not null references customers (id), total numeric);
create schema billing;
create table billing.invoices (id serial primary key, order_id bigint references orders (id));
create sequence ticket_numbers;
create table "Odd ""Name""" (v text);
insert into customers (name) values ('seeded');
`

async function rows<T>(client: pg.Client, sql: string): Promise<T[]> {
  return (await client.query(sql)).rows as T[]
}

describe('truncate isolation', () => {
  let server: StartedCluster
  let admin: pg.Client
  let app: pg.Client
  let dbUrl: string

  async function createWorkerDb(n: number, marker: { runId: string } | null): Promise<string> {
    const name = workerDatabaseName(runId, n)
    await admin.query(`create database ${quoteIdentifier(name)} owner ${quoteIdentifier(server.user)}`)
    if (marker) await markOwned(admin, name, { runId: marker.runId, kind: 'worker' })
    const url = new URL(server.url)
    url.pathname = `/${name}`
    return url.toString()
  }

  beforeAll(async () => {
    server = await startCluster({ name: 'truncate' })
    admin = new pg.Client({ connectionString: server.superuser.url })
    await admin.connect()
    dbUrl = await createWorkerDb(1, { runId })
    app = new pg.Client({ connectionString: dbUrl })
    await app.connect()
    await app.query(SCHEMA)
  })
  afterAll(async () => {
    await app?.end()
    await admin?.end()
    await server?.stop()
  })

  test('empties every user table in every schema, restarts sequences, keeps excluded tables', async () => {
    const iso = await createTruncateIsolation({ url: dbUrl, runId, exclude: ['schema_migrations'] })
    try {
      await app.query(`insert into customers (name) values ('a'), ('b');
        insert into orders (customer_id, total) values (2, 10);
        insert into billing.invoices (order_id) values (1);
        insert into "Odd ""Name""" values ('x');
        select nextval('ticket_numbers'), nextval('ticket_numbers')`)
      const result = await iso.reset()
      expect(result.truncated).toBe(true)
      expect(result.tables).toEqual(
        expect.arrayContaining([
          'public.customers',
          'public.orders',
          'billing.invoices',
          'public.Odd "Name"',
        ]),
      )
      expect(result.tables).not.toContain('public.schema_migrations')
      const [counts] = await rows<Record<string, string>>(
        app,
        `select (select count(*) from customers) c, (select count(*) from orders) o,
                (select count(*) from billing.invoices) i, (select count(*) from "Odd ""Name""") q,
                (select count(*) from schema_migrations) m`,
      )
      expect(counts).toEqual({ c: '0', o: '0', i: '0', q: '0', m: '2' })
      const [ids] = await rows<Record<string, string>>(
        app,
        `insert into customers (name) values ('fresh') returning id::text as customer,
           nextval('ticket_numbers')::text as ticket`,
      )
      expect(ids).toEqual({ customer: '1', ticket: '1' })
      await app.query(`insert into orders (customer_id) values (1)`)
      expect(await rows(app, `select id::text from orders`)).toEqual([{ id: '1' }])
    } finally {
      await iso.close()
    }
  })

  test('skips the TRUNCATE when nothing was written, but not after an insert that was deleted', async () => {
    const iso = await createTruncateIsolation({ url: dbUrl, runId, exclude: ['public.schema_migrations'] })
    try {
      await iso.reset()
      expect((await iso.reset()).truncated).toBe(false)
      await app.query('select * from customers')
      expect((await iso.reset()).truncated).toBe(false)
      await app.query(`insert into customers (name) values ('gone'); delete from customers`)
      expect((await iso.reset()).truncated).toBe(true)
      const [row] = await rows<{ id: number }>(app, `insert into customers (name) values ('n') returning id`)
      expect(row?.id).toBe(1)
      // A failed insert moves the sequence without writing a row.
      await iso.reset()
      await expect(app.query(`insert into customers (name) values (null)`)).rejects.toThrow(/not-null/)
      expect((await iso.reset()).tables).toEqual(['public.customers'])
      const [again] = await rows<{ id: number }>(
        app,
        `insert into customers (name) values ('m') returning id`,
      )
      expect(again?.id).toBe(1)
      await iso.reset()
      await app.query(`select nextval('ticket_numbers')`)
      expect((await iso.reset()).truncated).toBe(true)
      expect(await rows(app, `select nextval('ticket_numbers')::text as n`)).toEqual([{ n: '1' }])
    } finally {
      await iso.close()
    }
  })

  test('refuses a database pgrig did not mark, and one of another run; its rows survive', async () => {
    const error = await createTruncateIsolation({ url: server.url }).catch((e: unknown) => e)
    expect(isPgrigError(error) && error.code).toBe('E_UNSAFE_TARGET')
    expect((error as Error).message).toMatch(/not named like a pgrig database/)

    const unmarked = await createWorkerDb(2, null)
    await expect(createTruncateIsolation({ url: unmarked })).rejects.toThrow(/carries no pgrig marker/)

    const foreign = await createWorkerDb(3, { runId })
    const other = new pg.Client({ connectionString: foreign })
    await other.connect()
    try {
      await other.query(`create table keep (v int); insert into keep values (1)`)
      await expect(createTruncateIsolation({ url: foreign, runId: 'someother' })).rejects.toThrow(
        /belongs to pgrig run trunc001, not to this run someother/,
      )
      expect(await rows(other, 'select v from keep')).toEqual([{ v: 1 }])
    } finally {
      await other.end()
    }
  })

  test('an excluded table that references a truncated one is a clear error, not a silent wipe', async () => {
    const iso = await createTruncateIsolation({ url: dbUrl, runId, exclude: ['billing.invoices'] })
    try {
      await app.query(`insert into billing.invoices (order_id) values (null)`)
      await expect(iso.reset()).rejects.toThrow(
        /excluded table billing\.invoices references public\.orders, so truncating that table would empty it too/,
      )
      expect(await rows(app, 'select count(*)::int as n from billing.invoices')).toEqual([{ n: 1 }])
    } finally {
      await iso.close()
    }
  })

  test('a connection the test left inside a transaction makes reset fail fast with the reason', async () => {
    const iso = await createTruncateIsolation({ url: dbUrl, runId, lockTimeoutMs: 200 })
    const leaked = new pg.Client({ connectionString: dbUrl })
    await leaked.connect()
    try {
      await leaked.query(`begin; insert into customers (name) values ('held')`)
      const error = await iso.reset().catch((e: unknown) => e)
      expect(isPgrigError(error) && error.code).toBe('E_RESET_FAILED')
      expect((error as Error).message).toMatch(/another connection still holds a lock on a table/)
      await leaked.query('rollback')
      expect((await iso.reset()).truncated).toBe(true)
    } finally {
      await leaked.end()
      await iso.close()
    }
  })
})
