import fc from 'fast-check'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { privateRunRoot } from '../../../test/support/run-root.js'
import { startServer, type StartedServer } from '../../servers/start-server.js'
import { ClonePool } from '../clone-pool.js'
import { ensureTemplate, type Template } from '../template.js'
import { isolationStrategy } from './index.js'
import type { WorkerContext } from './strategy.js'
import type { ResetDecision } from '../reset/worker.js'

privateRunRoot('reset-mode')

const SCHEMA = `
create type mood as enum ('sad', 'ok');
create table customers (id serial primary key, name text not null, m mood);
create table orders (id bigint generated always as identity primary key, customer_id int references customers (id), total int);
create sequence tickets;
select setval('tickets', 41);
create table audit (what text);
create function log_customer() returns trigger language plpgsql as
  $$ begin insert into audit values ('customer ' || new.name); return new; end $$;
create trigger customers_audit after insert on customers for each row execute function log_customer();
create table empty_one (v text);
insert into customers (name, m) values ('seeded', 'ok'), ('second', 'sad');
insert into orders (customer_id, total) values (1, 5);
`

/**
 * What a test could observe of a database: the user-relevant catalogs (without the columns a
 * truncate or autovacuum moves: relfilenode, relpages, …; without other sessions' temporary
 * objects) and every table's rows and every sequence's state.
 */
const FINGERPRINT = `
with temp_ns as (select oid from pg_namespace where nspname like 'pg\\_temp\\_%' or nspname like 'pg\\_toast\\_temp\\_%'),
cls as (select * from pg_class where relpersistence <> 't' and relnamespace not in (select oid from temp_ns))
select json_build_object(
  'class', (select md5(string_agg(concat_ws('|', oid, relname, relnamespace, reltype, relkind, relnatts, relacl, reloptions, relhasindex, relhastriggers, relrowsecurity), ',' order by oid)) from cls),
  'attribute', (select md5(string_agg(concat_ws('|', attrelid, attname, atttypid, attnum, attnotnull, atthasdef, attisdropped, attgenerated), ',' order by attrelid, attnum)) from pg_attribute where attrelid in (select oid from cls)),
  'type', (select md5(string_agg(concat_ws('|', oid, typname, typnamespace, typtype, typrelid), ',' order by oid)) from pg_type where typnamespace not in (select oid from temp_ns)),
  'namespace', (select md5(string_agg(concat_ws('|', oid, nspname, nspacl), ',' order by oid)) from pg_namespace where oid not in (select oid from temp_ns)),
  'proc', (select md5(string_agg(concat_ws('|', oid, proname, prosrc), ',' order by oid)) from pg_proc),
  'enum', (select md5(string_agg(concat_ws('|', oid, enumtypid, enumlabel, enumsortorder), ',' order by oid)) from pg_enum),
  'constraint', (select md5(string_agg(concat_ws('|', oid, conname, conrelid), ',' order by oid)) from pg_constraint),
  'trigger', (select md5(string_agg(concat_ws('|', oid, tgname, tgrelid, tgenabled), ',' order by oid)) from pg_trigger),
  'index', (select md5(string_agg(concat_ws('|', indexrelid, indrelid), ',' order by indexrelid)) from pg_index where indrelid in (select oid from cls)),
  'description', (select md5(string_agg(concat_ws('|', objoid, description), ',' order by objoid)) from pg_description),
  'lo', (select md5(string_agg(oid::text, ',' order by oid)) from pg_largeobject_metadata),
  'lodata', (select md5(string_agg(concat_ws('|', loid, pageno, md5(data)), ',' order by loid, pageno)) from pg_largeobject),
  'settings', (select setconfig::text from pg_db_role_setting where setdatabase = (select oid from pg_database where datname = current_database())),
  'customers', (select json_agg(c order by id) from customers c),
  'orders', (select json_agg(o order by id) from orders o),
  'audit', (select json_agg(a order by what) from audit a),
  'empty_one', (select count(*) from empty_one),
  'tickets', (select last_value || ':' || is_called from tickets),
  'customers_seq', (select last_value || ':' || is_called from customers_id_seq),
  'orders_seq', (select last_value || ':' || is_called from orders_id_seq),
  'session', (select current_setting('search_path') || current_setting('work_mem')),
  'temp', (select count(*) from pg_class where relpersistence = 't' and pg_table_is_visible(oid))
) as fp`

/** One statement a generated test body runs; `open` leaves a second connection open, `prepare` a prepared transaction. */
type Step = { sql: string } | { open: string } | { prepare: string }

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.string({ maxLength: 6 }).map((s) => ({ sql: `insert into customers (name) values (${lit(s)})` })),
  fc
    .integer({ min: 1, max: 3 })
    .map((n) => ({ sql: `update customers set name = name || 'x' where id = ${n}` })),
  fc.integer({ min: 1, max: 3 }).map((n) => ({ sql: `delete from orders where customer_id = ${n}` })),
  fc.constant({ sql: 'insert into orders (customer_id, total) values (2, 7)' }),
  fc.constant({ sql: 'insert into empty_one values (1)' }),
  fc.constant({ sql: 'truncate orders' }),
  fc.constant({ sql: 'truncate customers cascade' }),
  fc.constant({ sql: "select nextval('tickets'), nextval('customers_id_seq')" }),
  fc.integer({ min: 1, max: 999 }).map((n) => ({ sql: `select setval('tickets', ${n}, false)` })),
  fc.constant({ sql: 'create table made_by_test (id int)' }),
  fc.constant({ sql: 'alter table customers add column extra int' }),
  fc.constant({ sql: 'create index on orders (total)' }),
  fc.constant({ sql: "comment on table audit is 'changed'" }),
  fc.constant({ sql: 'create temp table scratch (x int); insert into scratch values (1)' }),
  fc.constant({ sql: "select lo_from_bytea(0, 'hello')" }),
  fc.constant({ sql: 'set search_path = pg_catalog; set work_mem = 1234' }),
  fc.constant({ sql: "alter type mood add value if not exists 'happy'" }),
  fc.constant({
    sql: "do $$ begin execute format('alter database %I set work_mem = 4321', current_database()); end $$",
  }),
  fc.constant({ sql: 'analyze customers' }),
  fc.constant({
    sql: 'create or replace function log_customer() returns trigger language plpgsql as $$ begin return new; end $$',
  }),
  fc.constant({ open: "begin; insert into audit values ('open'); select pg_sleep(0)" }),
  // Committed on a connection the test leaves open: its counters reach the server only as the sweep ends it.
  fc.constant({ open: "insert into customers (name) values ('left open'); delete from orders" }),
  fc.constant({ prepare: "begin; insert into audit values ('prepared'); prepare transaction 'pgrig_t'" }),
)

function lit(s: string): string {
  return `'${s.replaceAll("'", "''").replaceAll('\0', '')}'`
}

let server: StartedServer
let template: Template
let pool: ClonePool
let fresh: string
let prepared = false

beforeAll(async () => {
  server = await startServer({ name: 'reset-mode-test', quiet: true })
  template = await ensureTemplate({
    adminUrl: server.superuser.url,
    appUrl: server.url,
    runId: 'resetmd1',
    migrations: async (url) => {
      const c = new pg.Client({ connectionString: url })
      await c.connect()
      try {
        await c.query(SCHEMA)
      } finally {
        await c.end()
      }
    },
  })
  pool = new ClonePool({
    adminUrl: server.superuser.url,
    appUrl: server.url,
    template: template.name,
    runId: 'resetmd1',
    serverVersionNum: template.serverVersionNum,
    logFile: server.logFile,
    size: 1,
    max: 6,
  })
  const lease = await pool.acquire()
  fresh = await fingerprint(lease.adminUrl)
  const c = new pg.Client({ connectionString: lease.adminUrl })
  await c.connect()
  prepared = Number((await c.query('show max_prepared_transactions')).rows[0].max_prepared_transactions) > 0
  await c.end()
  pool.release(lease.name)
}, 120_000)

afterAll(async () => {
  await pool?.close()
  await server?.stop()
})

async function fingerprint(url: string): Promise<string> {
  const c = new pg.Client({ connectionString: url })
  await c.connect()
  try {
    return JSON.stringify((await c.query<{ fp: unknown }>(FINGERPRINT)).rows[0]!.fp)
  } finally {
    await c.end()
  }
}

function context(slot: string): WorkerContext {
  return {
    broker: {
      acquire: () => pool.acquire(),
      release: (name: string, options?: { keep?: boolean }) => Promise.resolve(pool.release(name, options)),
      workerDatabase: (key: string, options?: { fresh?: boolean }) => pool.workerDatabase(key, options),
      post: () => Promise.resolve(undefined),
    } as unknown as WorkerContext['broker'],
    slot,
    runId: 'resetmd1',
  }
}

/** Runs a generated body on the test's database; errors of a step (a duplicate, a cascade) are part of the body. */
async function runBody(
  url: string,
  steps: Step[],
  db: { query: (sql: string) => Promise<unknown> },
  leftOpen: pg.Client[],
) {
  for (const s of steps) {
    if ('sql' in s) await db.query(s.sql).catch(() => {})
    else if ('open' in s) {
      const c = new pg.Client({ connectionString: url })
      c.on('error', () => {})
      await c.connect()
      await c.query(s.open).catch(() => {})
      leftOpen.push(c)
    } else if (prepared) {
      const c = new pg.Client({ connectionString: url })
      c.on('error', () => {})
      await c.connect()
      await c.query(s.prepare).catch(() => {})
      await c.end()
    }
  }
}

describe.each(['database', 'reset'])('isolation %s', (mode) => {
  test('after any generated test body, the next test sees a database indistinguishable from a fresh clone', async () => {
    const worker = isolationStrategy(mode).openWorker(context(`slot-${mode}`))
    const leftOpen: pg.Client[] = []
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 5 }), async (steps) => {
          const checkout = await worker.beforeEach()
          expect(await fingerprint(checkout.lease.adminUrl)).toBe(fresh)
          await runBody(checkout.lease.url, steps, checkout.db, leftOpen)
          await checkout.afterEach({ keep: false })
          const next = await worker.beforeEach()
          expect(await fingerprint(next.lease.adminUrl)).toBe(fresh)
          await next.afterEach({ keep: false })
        }),
        { numRuns: 25, seed: 24 },
      )
    } finally {
      await worker.close()
      await Promise.allSettled(leftOpen.map((c) => c.end()))
    }
  }, 240_000)
})

describe('reset mode', () => {
  test('resets written rows in place and swaps for a fresh clone after DDL, and says what the catalog check cost', async () => {
    const worker = isolationStrategy('reset').openWorker(context('slot-paths'))
    const decisions = (worker as unknown as { decisions: ResetDecision[] }).decisions
    try {
      const first = await worker.beforeEach()
      await first.db.query("insert into customers (name) values ('x')")
      await first.afterEach({ keep: false })
      const second = await worker.beforeEach()
      expect(second.lease.name).toBe(first.lease.name)
      expect(decisions.at(-1)?.path).toBe('in-place')
      await second.db.query('create table t2 (id int)')
      await second.afterEach({ keep: false })
      const third = await worker.beforeEach()
      expect(decisions.at(-1)).toMatchObject({ path: 'swap' })
      expect(decisions.at(-1)?.changed).toContain('pg_class')
      expect(third.lease.name).not.toBe(first.lease.name)
      expect(await fingerprint(third.lease.adminUrl)).toBe(fresh)
      await third.afterEach({ keep: false })
      // A test that wrote nothing: only the connection sweep and the catalog check.
      for (let i = 0; i < 5; i++) {
        const idle = await worker.beforeEach()
        await idle.db.query('select 1')
        await idle.afterEach({ keep: false })
      }
      await worker.beforeEach()
      const inPlace = decisions.filter((d) => d.path === 'in-place').map((d) => Math.round(d.ms))
      const swaps = decisions.filter((d) => d.path === 'swap').map((d) => Math.round(d.ms))
      console.log(`reset mode: in place ${inPlace.join(', ')} ms; swaps ${swaps.join(', ')} ms`)
    } finally {
      await worker.close()
    }
  }, 120_000)
})
