import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../servers/start-server.js'
import { isPgrigError } from '../errors.js'
import { privateRunRoot } from '../../test/support/run-root.js'
import { markOwned, workerDatabaseName } from './guard.js'
import { quoteIdentifier } from '../servers/sql-quote.js'
import { createTruncateIsolation } from './truncate-mode.js'

privateRunRoot('truncate')

const runId = 'trunc001'

const SCHEMA = `
create table schema_migrations (version text primary key);
insert into schema_migrations values ('001'), ('002');
create table customers (id serial primary key, name text not null);
create table orders (id bigint generated always as identity primary key,
                     customer_id int not null references customers (id), total numeric,
                     doubled numeric generated always as (total * 2) stored);
create schema billing;
create table billing.invoices (id serial primary key, order_id bigint references orders (id));
create sequence ticket_numbers;
select setval('ticket_numbers', 41);
create table "Odd ""Name""" (v text);
create table events (id int, at date not null) partition by range (at);
create table events_2025 partition of events for values from ('2025-01-01') to ('2026-01-01');
create table events_2026 partition of events for values from ('2026-01-01') to ('2027-01-01');
create table audit (what text);
create function log_customer() returns trigger language plpgsql as
  $$ begin insert into audit values ('customer ' || new.name); return new; end $$;
create trigger customers_audit after insert on customers for each row execute function log_customer();
create function shout() returns trigger language plpgsql as $$ begin new.name := upper(new.name); return new; end $$;
create trigger customers_shout before insert on customers for each row execute function shout();
insert into customers (name) values ('seeded'), ('second');
insert into orders (customer_id, total) values (1, 5);
insert into events values (1, '2025-06-01'), (2, '2026-06-01');
`

async function rows<T>(client: pg.Client, sql: string): Promise<T[]> {
  return (await client.query(sql)).rows as T[]
}

/** Everything a test could observe of the seeded state, one row. */
const STATE = `select (select json_agg(c order by id) from customers c) customers,
  (select json_agg(o order by id) from orders o) orders,
  (select count(*)::int from billing.invoices) invoices, (select count(*)::int from "Odd ""Name""") odd,
  (select json_agg(e order by id) from events e) events,
  (select json_agg(what order by what) from audit) audit,
  (select count(*)::int from schema_migrations) migrations,
  (select last_value::text || ':' || is_called from ticket_numbers) ticket`

describe('truncate isolation', () => {
  let server: StartedServer
  let admin: pg.Client
  let n = 0
  const clients: pg.Client[] = []

  async function createWorkerDb(marker: { runId: string } | null): Promise<string> {
    const name = workerDatabaseName(runId, ++n)
    await admin.query(`create database ${quoteIdentifier(name)} owner ${quoteIdentifier(server.user)}`)
    if (marker) await markOwned(admin, name, { runId: marker.runId, kind: 'worker' })
    const url = new URL(server.url)
    url.pathname = `/${name}`
    return url.toString()
  }

  /** A marked worker database with `schema` applied, and the app's connection to it. */
  async function seeded(schema = SCHEMA): Promise<{ url: string; app: pg.Client }> {
    const url = await createWorkerDb({ runId })
    const app = new pg.Client({ connectionString: url })
    await app.connect()
    clients.push(app)
    await app.query(schema)
    return { url, app }
  }

  beforeAll(async () => {
    server = await startServer({ name: 'truncate' })
    admin = new pg.Client({ connectionString: server.superuser.url })
    await admin.connect()
  })
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end()))
    await admin?.end()
    await server?.stop()
  })

  test('puts every table back as the template had it: seed rows, identities, partitions, sequences, other schemas', async () => {
    const { url, app } = await seeded()
    const before = (await rows(app, STATE))[0]
    expect(before).toMatchObject({
      customers: [
        { id: 1, name: 'SEEDED' },
        { id: 2, name: 'SECOND' },
      ],
      audit: ['customer SECOND', 'customer SEEDED'],
      ticket: '41:true',
    })
    const iso = await createTruncateIsolation({ url, runId })
    try {
      await app.query(`insert into customers (name) values ('a'), ('b');
        update customers set name = 'changed' where id = 1;
        insert into orders (customer_id, total) values (3, 10);
        delete from orders where id = 1;
        insert into billing.invoices (order_id) values (2);
        insert into "Odd ""Name""" values ('x');
        insert into events values (3, '2026-02-02'); delete from events where id = 1;
        select nextval('ticket_numbers'), nextval('ticket_numbers')`)
      const result = await iso.reset()
      expect(result.truncated).toBe(true)
      expect(result.tables).toEqual(
        expect.arrayContaining([
          'public.customers',
          'public.orders',
          'billing.invoices',
          'public.Odd "Name"',
          'public.events_2025',
          'public.events_2026',
          'public.audit',
        ]),
      )
      expect(result.restored).toEqual(
        expect.arrayContaining(['public.customers', 'public.orders', 'public.audit', 'public.events_2025']),
      )
      expect(result.restored).not.toContain('billing.invoices')
      expect(result.tables).not.toContain('public.schema_migrations')
      // Restored with the triggers off: no second audit row, names not shouted twice.
      expect((await rows(app, STATE))[0]).toEqual(before)
      // Identities and serials continue where the template left them.
      const [ids] = await rows<Record<string, string>>(
        app,
        `insert into customers (name) values ('fresh') returning id::text as customer,
           nextval('ticket_numbers')::text as ticket`,
      )
      expect(ids).toEqual({ customer: '3', ticket: '42' })
      await app.query(`insert into orders (customer_id, total) values (1, 7)`)
      expect(await rows(app, `select id::text, doubled::text from orders order by id`)).toEqual([
        { id: '1', doubled: '10' },
        { id: '2', doubled: '14' },
      ])
      // The triggers are back on.
      expect(await rows(app, `select count(*)::int as n from audit where what = 'customer FRESH'`)).toEqual([
        { n: 1 },
      ])
      await iso.reset()
      expect((await rows(app, STATE))[0]).toEqual(before)
    } finally {
      await iso.close()
    }
  })

  test('touches only what was written, and nothing when nothing was', async () => {
    const { url, app } = await seeded()
    const iso = await createTruncateIsolation({ url, runId })
    try {
      expect((await iso.reset()).truncated).toBe(false)
      await app.query('select * from customers; select * from orders for update')
      expect((await iso.reset()).truncated).toBe(false)
      await app.query(`insert into "Odd ""Name""" values ('gone'); delete from "Odd ""Name"""`)
      expect(await iso.reset()).toMatchObject({
        truncated: true,
        tables: ['public.Odd "Name"'],
        restored: [],
      })
      // A seeded table referenced by nothing: only it is restored.
      await app.query(`update events set id = 9 where id = 2`)
      expect(await iso.reset()).toMatchObject({
        tables: ['public.events_2026'],
        restored: ['public.events_2026'],
      })
      expect(await rows(app, 'select id from events order by id')).toEqual([{ id: 1 }, { id: 2 }])
      // Deleting a seed row changes the count.
      await app.query(`delete from events where id = 1`)
      expect((await iso.reset()).restored).toEqual(['public.events_2025'])
      // A referenced table takes the tables that reference it along (and refills them).
      await app.query(`update customers set name = 'x' where id = 2`)
      const result = await iso.reset()
      expect(result.tables.sort()).toEqual(['billing.invoices', 'public.customers', 'public.orders'])
      expect(result.restored.sort()).toEqual(['public.customers', 'public.orders'])
      // A failed insert moves the sequence without writing a row.
      await expect(app.query(`insert into customers (name) values (null)`)).rejects.toThrow(/not-null/)
      expect(await iso.reset()).toMatchObject({ tables: [], restored: [], truncated: true })
      const [again] = await rows<{ id: number }>(
        app,
        `insert into customers (name) values ('m') returning id`,
      )
      expect(again?.id).toBe(3)
      await iso.reset()
      expect((await iso.reset()).truncated).toBe(false)
      // A never-called sequence moved with setval(…, false) hides its value from pg_sequence_last_value.
      await app.query(`select setval('billing.invoices_id_seq', 100, false)`)
      expect((await iso.reset()).truncated).toBe(true)
      const [invoice] = await rows<{ id: number }>(
        app,
        `insert into billing.invoices default values returning id`,
      )
      expect(invoice?.id).toBe(1)
      await iso.reset()
      // …and one renamed by a test is followed.
      await app.query(`alter sequence billing.invoices_id_seq rename to moved_seq`)
      await app.query(`select setval('billing.moved_seq', 7, false)`)
      expect((await iso.reset()).truncated).toBe(true)
      expect(await rows(app, `select last_value::int as v, is_called from billing.moved_seq`)).toEqual([
        { v: 1, is_called: false },
      ])
    } finally {
      await iso.close()
    }
  })

  test('rules on insert do not redirect the rows a reset puts back', async () => {
    const { url, app } = await seeded(`
      create table notes (v text); create table notes_log (v text); create table tags (v text);
      insert into notes values ('seed'); insert into tags values ('t');
      create rule notes_instead as on insert to notes do instead insert into notes_log values (new.v);
      create rule tags_also as on insert to tags do also insert into notes_log values ('tag ' || new.v);
      alter table tags enable always rule tags_also;`)
    const iso = await createTruncateIsolation({ url, runId })
    try {
      await app.query(`delete from notes; delete from tags; insert into tags values ('x')`)
      await iso.reset()
      const state = `select (select json_agg(v) from notes) notes, (select json_agg(v order by v) from tags) tags,
        (select count(*)::int from notes_log) log,
        (select json_agg(rulename || ':' || ev_enabled::text order by rulename) from pg_rewrite where ev_type = '3') rules`
      expect(await rows(app, state)).toEqual([
        { notes: ['seed'], tags: ['t'], log: 0, rules: ['notes_instead:O', 'tags_also:A'] },
      ])
    } finally {
      await iso.close()
    }
  })

  test('the snapshot is invisible to other connections; tables a test creates are emptied', async () => {
    const { url, app } = await seeded()
    const listed = `select table_schema || '.' || table_name as t from information_schema.tables
      where table_schema not in ('pg_catalog', 'information_schema') order by 1`
    const before = await rows(app, listed)
    const iso = await createTruncateIsolation({ url, runId })
    try {
      expect(await rows(app, listed)).toEqual(before)
      // Kysely's and drizzle-kit's introspection skip pg_* schemas.
      expect(
        await rows(
          app,
          `select count(*)::int as n from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname !~ '^pg_' and c.relname like 'pgrig%'`,
        ),
      ).toEqual([{ n: 0 }])
      await app.query(`create table made_by_test (v int); insert into made_by_test values (1)`)
      expect((await iso.reset()).tables).toEqual(['public.made_by_test'])
      expect(await rows(app, 'select count(*)::int as n from made_by_test')).toEqual([{ n: 0 }])
      await app.query(`drop table "Odd ""Name"""; alter table events_2025 rename to events_old`)
      await app.query(`delete from events_old`)
      expect((await iso.reset()).restored).toEqual(['public.events_old'])
      expect(await rows(app, 'select count(*)::int as n from events_old')).toEqual([{ n: 1 }])
    } finally {
      await iso.close()
    }
  })

  test('bookkeeping tables and exclude are left alone; an excluded name that matches nothing is one clear error', async () => {
    const { url, app } = await seeded()
    const error = await createTruncateIsolation({ url, runId, exclude: ['custmers'] }).catch(
      (e: unknown) => e,
    )
    expect(isPgrigError(error) && error.code).toBe('E_CONFIG_INVALID')
    expect((error as Error).message).toMatch(
      /^exclude names "custmers", which matches no table of the migrated database/,
    )
    await expect(createTruncateIsolation({ url, runId, exclude: ['nope.audit'] })).rejects.toThrow(
      /"nope\.audit"/,
    )

    const iso = await createTruncateIsolation({ url, runId, exclude: ['public.audit', 'events'] })
    try {
      await app.query(`insert into schema_migrations values ('003'); insert into audit values ('kept');
        insert into events values (5, '2025-03-03')`)
      expect((await iso.reset()).truncated).toBe(false)
      expect(await rows(app, 'select count(*)::int as n from schema_migrations')).toEqual([{ n: 3 }])
      expect(await rows(app, 'select count(*)::int as n from events')).toEqual([{ n: 3 }])
      await app.query(`insert into customers (name) values ('new')`)
      await iso.reset()
      // audit was excluded, so the restore's trigger-free refill of customers left it as the test did.
      expect(await rows(app, `select count(*)::int as n from audit where what = 'kept'`)).toEqual([{ n: 1 }])
    } finally {
      await iso.close()
    }
  })

  test('refuses a database pgrig did not mark, and one of another run; its rows survive', async () => {
    const error = await createTruncateIsolation({ url: server.url }).catch((e: unknown) => e)
    expect(isPgrigError(error) && error.code).toBe('E_UNSAFE_TARGET')
    expect((error as Error).message).toMatch(/not named like a pgrig database/)

    const unmarked = await createWorkerDb(null)
    await expect(createTruncateIsolation({ url: unmarked })).rejects.toThrow(/carries no pgrig marker/)

    const foreign = await createWorkerDb({ runId })
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

  test('an excluded table that references a reset one is a clear error, not a silent wipe', async () => {
    const { url, app } = await seeded()
    const iso = await createTruncateIsolation({ url, runId, exclude: ['billing.invoices'] })
    try {
      await app.query(`insert into billing.invoices (order_id) values (null); update orders set total = 1`)
      await expect(iso.reset()).rejects.toThrow(
        /excluded table billing\.invoices references public\.orders, so truncating that table would empty it too/,
      )
      expect(await rows(app, 'select count(*)::int as n from billing.invoices')).toEqual([{ n: 1 }])
    } finally {
      await iso.close()
    }
  })

  test('a connection the test left inside a transaction makes reset fail fast with the reason', async () => {
    const { url } = await seeded()
    const iso = await createTruncateIsolation({ url, runId, lockTimeoutMs: 200 })
    const leaked = new pg.Client({ connectionString: url })
    await leaked.connect()
    try {
      await leaked.query(`insert into "Odd ""Name""" values ('x'); begin; lock table "Odd ""Name"""`)
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
