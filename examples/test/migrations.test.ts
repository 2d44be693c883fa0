import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { migrate, migrationFiles } from '../src/migrate.js'
import { connect, expect, test, urlAs } from './fixtures.js'

const migrations = fileURLToPath(new URL('../migrations', import.meta.url))

/** Everything the migrations shape, in a form two databases can be compared by. */
async function schemaOf(client: pg.Client) {
  const q = async (text: string) => (await client.query(text)).rows
  return {
    columns: await q(`SELECT table_name, column_name, data_type, is_nullable, column_default
                      FROM information_schema.columns WHERE table_schema = 'public'
                      ORDER BY table_name, ordinal_position`),
    constraints: await q(`SELECT conrelid::regclass::text AS table, conname, pg_get_constraintdef(oid) AS def
                          FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2`),
    indexes: await q(`SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1`),
    policies: await q(`SELECT tablename, policyname, qual, with_check FROM pg_policies ORDER BY 1, 2`),
    rls: await q(`SELECT relname, relrowsecurity FROM pg_class
                  WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' ORDER BY 1`),
    triggers: await q(`SELECT tgrelid::regclass::text AS table, tgname, pg_get_triggerdef(oid) AS def
                       FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2`),
    functions: await q(`SELECT proname, pg_get_function_identity_arguments(oid) AS args, md5(prosrc) AS body
                        FROM pg_proc WHERE pronamespace = 'public'::regnamespace
                        AND proname NOT IN (SELECT p.proname FROM pg_depend d JOIN pg_proc p ON p.oid = d.objid
                                            WHERE d.deptype = 'e')
                        ORDER BY 1, 2`),
    extensions: await q(`SELECT extname FROM pg_extension ORDER BY 1`),
  }
}

test('the template database has the whole schema and the seed', async ({ db }) => {
  const tables = await db.sql`SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1`
  expect(tables.map((t) => t.tablename)).toEqual([
    'audit_log',
    'customers',
    'order_items',
    'orders',
    'products',
    'tenants',
  ])
  expect(await db.sql`SELECT count(*)::int AS n FROM customers`).toEqual([{ n: 3 }])
  const [uuid] = await db.sql<{ id: string }>`SELECT gen_random_uuid()::text AS id`
  expect(uuid?.id).toMatch(/^[0-9a-f-]{36}$/)
})

test('applying the migrations again changes nothing', async ({ db }) => {
  const before = await schemaOf(db.client)
  const rowsBefore =
    await db.sql`SELECT (SELECT count(*) FROM customers) c, (SELECT count(*) FROM audit_log) a`

  expect(await migrate(db.url, migrations)).toEqual(migrationFiles(migrations).map((f) => path.basename(f)))

  expect(await schemaOf(db.client)).toEqual(before)
  expect(await db.sql`SELECT (SELECT count(*) FROM customers) c, (SELECT count(*) FROM audit_log) a`).toEqual(
    rowsBefore,
  )
})

test('the migrations apply cleanly to an empty database and give the same schema', async ({ db, defer }) => {
  const admin = await connect(db.adminUrl, defer)
  const appUser = decodeURIComponent(new URL(db.url).username)
  const empty = `empty_${randomBytes(6).toString('hex')}`
  await admin.query(
    `CREATE DATABASE ${pg.escapeIdentifier(empty)} OWNER ${pg.escapeIdentifier(appUser)} TEMPLATE template0`,
  )
  defer(async () => {
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(empty)} WITH (FORCE)`)
  })
  const parsed = new URL(db.url)
  const emptyUrl = urlAs(
    db.url,
    decodeURIComponent(parsed.username),
    decodeURIComponent(parsed.password),
    empty,
  )

  await migrate(emptyUrl, migrations)

  const fresh = await connect(emptyUrl, defer)
  expect(await schemaOf(fresh)).toEqual(await schemaOf(db.client))
  // No seed there: the migrations create structure only.
  expect((await fresh.query('SELECT count(*)::int AS n FROM tenants')).rows).toEqual([{ n: 0 }])
})

test('a broken migration names the file and leaves nothing half-applied', async ({ db, defer }) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shop-migrations-'))
  defer(() => fs.rmSync(dir, { recursive: true, force: true }))
  fs.writeFileSync(path.join(dir, '001_ok.sql'), 'CREATE TABLE coupons (code text PRIMARY KEY);')
  fs.writeFileSync(
    path.join(dir, '002_broken.sql'),
    'CREATE TABLE gift_cards (id int); SELECT no_such_function();',
  )

  await expect(migrate(db.url, dir)).rejects.toThrow(
    /migration 002_broken\.sql failed: function no_such_function\(\) does not exist/,
  )
  const tables = await db.sql`SELECT tablename FROM pg_tables WHERE tablename IN ('coupons', 'gift_cards')`
  expect(tables).toEqual([{ tablename: 'coupons' }])
})
