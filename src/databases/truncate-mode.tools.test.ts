import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { drizzle } from 'drizzle-orm/node-postgres'
import { migrate as drizzleMigrate } from 'drizzle-orm/node-postgres/migrator'
import { Kysely, PostgresDialect, sql } from 'kysely'
import { Migrator } from 'kysely/migration'
import { runner } from 'node-pg-migrate'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { privateRunRoot } from '../../test/support/run-root.js'
import { withClient } from './admin.js'
import { startRunDatabases, type RunDatabases } from './run-databases.js'
import { createTruncateIsolation, type TruncateIsolation } from './truncate-mode.js'

privateRunRoot('truncate-tools')

/** Each tool's migrations, as a project would keep them: a drizzle-kit folder, Kysely migrations in code, a node-pg-migrate folder. */
const folders = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-truncate-tools-'))
const drizzleDir = path.join(folders, 'drizzle')
const pgMigrateDir = path.join(folders, 'pg-migrate')
fs.mkdirSync(path.join(drizzleDir, 'meta'), { recursive: true })
fs.mkdirSync(pgMigrateDir)
fs.writeFileSync(
  path.join(drizzleDir, 'meta', '_journal.json'),
  JSON.stringify({
    version: '7',
    dialect: 'postgresql',
    entries: [{ idx: 0, version: '7', when: 1700000000000, tag: '0000_countries', breakpoints: true }],
  }),
)
fs.writeFileSync(
  path.join(drizzleDir, '0000_countries.sql'),
  `create table countries (code text primary key, name text not null);
--> statement-breakpoint
insert into countries values ('de', 'Germany'), ('fr', 'France'), ('jp', 'Japan');`,
)
fs.writeFileSync(
  path.join(pgMigrateDir, '1700000000001_plans.sql'),
  `-- Up Migration
create table plans (id serial primary key, name text not null unique);
insert into plans (name) values ('free'), ('pro');
-- Down Migration
drop table plans;`,
)

const kyselyMigrations = {
  '0001_roles': {
    async up(db: Kysely<unknown>) {
      await sql`create table roles (id int generated always as identity primary key, name text not null)`.execute(
        db,
      )
      await sql`insert into roles (name) values ('admin'), ('member')`.execute(db)
      await sql`create table users (id serial primary key, email text not null,
        role_id int not null references roles (id), plan_id int references plans (id),
        country text references countries (code))`.execute(db)
    },
  },
}

function kysely(url: string): Kysely<unknown> {
  return new Kysely({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 2 }) }),
  })
}

async function migrateAll(url: string): Promise<{ kysely: number; pgMigrate: number }> {
  const pool = new pg.Pool({ connectionString: url, max: 2 })
  try {
    await drizzleMigrate(drizzle({ client: pool }), { migrationsFolder: drizzleDir })
  } finally {
    await pool.end()
  }
  const ran = await runner({
    databaseUrl: url,
    dir: pgMigrateDir,
    direction: 'up',
    migrationsTable: 'pgmigrations',
    log: () => {},
  })
  const db = kysely(url)
  try {
    const { error, results } = await new Migrator({
      db,
      provider: { getMigrations: async () => kyselyMigrations },
    }).migrateToLatest()
    if (error) throw error instanceof Error ? error : new Error(String(error))
    return { kysely: results?.length ?? 0, pgMigrate: ran.length }
  } finally {
    await db.destroy()
  }
}

const STATE = `select
  (select json_agg(c order by code) from countries c) countries,
  (select json_agg(r order by id) from roles r) roles,
  (select json_agg(p order by id) from plans p) plans,
  (select count(*)::int from users) users,
  (select json_agg(hash order by id) from drizzle.__drizzle_migrations) drizzle,
  (select json_agg(name order by name) from kysely_migration) kysely,
  (select count(*)::int from kysely_migration_lock) kysely_lock,
  (select json_agg(name order by id) from pgmigrations) pg_migrate`

describe('truncate mode with the migration tools of real projects', () => {
  let session: RunDatabases
  let iso: TruncateIsolation
  let url: string
  beforeAll(async () => {
    session = await startRunDatabases({
      isolation: 'truncate',
      migrations: (u) => migrateAll(u).then(() => {}),
    })
    url = (await session.pool.workerDatabase('1', { fresh: true })).url
    iso = await createTruncateIsolation({ url, runId: session.runId })
  })
  afterAll(async () => {
    await iso?.close()
    await session?.close()
    fs.rmSync(folders, { recursive: true, force: true })
  })

  test("Drizzle's, Kysely's and node-pg-migrate's bookkeeping and the rows their migrations inserted survive a test that writes everywhere", async () => {
    const state = () =>
      withClient(url, async (c) => (await c.query(STATE)).rows[0] as Record<string, unknown>)
    const template = await state()
    expect(template).toMatchObject({
      countries: [
        { code: 'de', name: 'Germany' },
        { code: 'fr', name: 'France' },
        { code: 'jp', name: 'Japan' },
      ],
      roles: [
        { id: 1, name: 'admin' },
        { id: 2, name: 'member' },
      ],
      plans: [
        { id: 1, name: 'free' },
        { id: 2, name: 'pro' },
      ],
      users: 0,
      kysely: ['0001_roles'],
      kysely_lock: 1,
      pg_migrate: ['1700000000001_plans'],
    })
    expect(template.drizzle).toHaveLength(1)
    // The snapshot stays out of the app's sight: Kysely's introspection lists only the app's tables
    // (it hides its own two).
    const db = kysely(url)
    const listed = (await db.introspection.getTables()).map((t) => `${t.schema}.${t.name}`).sort()
    await db.destroy()
    expect(listed).toEqual(
      [
        'public.countries',
        'public.pgmigrations',
        'public.plans',
        'public.roles',
        'public.users',
        'drizzle.__drizzle_migrations',
      ].sort(),
    )

    // A test: the code under test opens its own pool, writes to every table, commits, ends its pool.
    const app = new pg.Pool({ connectionString: url })
    await app.query(`insert into countries values ('it', 'Italy'); delete from countries where code = 'jp';
      update roles set name = 'owner' where id = 1; insert into roles (name) values ('guest');
      insert into plans (name) values ('team'); delete from plans where name = 'free';
      insert into users (email, role_id, plan_id, country) values ('a@example.com', 3, 3, 'it')`)
    await app.end()
    // ... and the app migrates at startup, as many do: nothing to run, but Kysely takes and frees its lock row.
    expect(await migrateAll(url)).toEqual({ kysely: 0, pgMigrate: 0 })

    const result = await iso.reset()
    expect(result.restored.sort()).toEqual(['public.countries', 'public.plans', 'public.roles'])
    expect(result.tables.sort()).toEqual(['public.countries', 'public.plans', 'public.roles', 'public.users'])

    // The next test: the template's state, and every tool still knows its migrations ran.
    expect(await state()).toEqual(template)
    expect(await migrateAll(url)).toEqual({ kysely: 0, pgMigrate: 0 })
    const [role] = await withClient(
      url,
      async (c) => (await c.query(`insert into roles (name) values ('next') returning id`)).rows,
    )
    // Identities continue where the template left them.
    expect(role).toEqual({ id: 3 })
  })
})
