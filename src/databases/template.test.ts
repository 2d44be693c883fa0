import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../servers/start-server.js'
import { withClient } from './admin.js'
import { withDatabase } from '../servers/libpq-url.js'
import { ensureTemplate } from './template.js'
import { privateRunRoot } from '../../test/support/run-root.js'

privateRunRoot('template')

let pgc: StartedServer
let dir: string

beforeAll(async () => {
  pgc = await startServer({ name: 'tpl-test', quiet: true })
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-tpl-'))
  fs.mkdirSync(path.join(dir, 'migrations'))
  fs.writeFileSync(
    path.join(dir, 'migrations', '001_users.sql'),
    'create table users (id serial primary key, name text not null);',
  )
  fs.writeFileSync(
    path.join(dir, 'migrations', '002_orders.sql'),
    'create table orders (id serial primary key, user_id int references users);',
  )
  fs.writeFileSync(path.join(dir, 'migrations', 'README.md'), 'not sql, ignored')
  fs.writeFileSync(path.join(dir, 'seed.sql'), "insert into users (name) values ('ada'), ('grace');")
})

afterAll(async () => {
  await pgc?.stop()
  fs.rmSync(dir, { recursive: true, force: true })
})

const rows = <T>(url: string, sql: string) => withClient(url, async (c) => (await c.query(sql)).rows as T[])

describe('ensureTemplate', () => {
  test('builds from .sql files in name order plus seed, owned by the app user, then reuses it', async () => {
    const options = {
      adminUrl: pgc.superuser.url,
      appUrl: pgc.url,
      runId: 'runa',
      migrations: 'migrations',
      seed: 'seed.sql',
      cwd: dir,
    }
    const first = await ensureTemplate(options)
    expect(first.built).toBe(true)
    expect(first.name).toMatch(/^pgrig_tpl_[0-9a-f]{16}$/)
    const [meta] = await rows<{ oid: number; owner: string; comment: string; allow: boolean }>(
      pgc.superuser.url,
      `select oid, pg_get_userbyid(datdba) as owner, shobj_description(oid, 'pg_database') as comment, datallowconn as allow
       from pg_database where datname = '${first.name}'`,
    )
    expect(meta).toMatchObject({
      owner: 'app',
      comment: 'pgrig {"runId":"runa","kind":"template"}',
      allow: false,
    })
    // Another run with the same inputs: same database, not rebuilt.
    const second = await ensureTemplate({ ...options, runId: 'runb' })
    expect(second).toMatchObject({ name: first.name, built: false })
    const [again] = await rows<{ oid: number }>(
      pgc.superuser.url,
      `select oid from pg_database where datname = '${first.name}'`,
    )
    expect(again?.oid).toBe(meta?.oid)
    // Contents: both tables owned by the app user, seed rows present (checked through a clone).
    await rows(pgc.superuser.url, `create database check_tpl template ${first.name}`)
    const tables = await rows<{ tablename: string; tableowner: string }>(
      withDatabase(pgc.superuser.url, 'check_tpl'),
      "select tablename, tableowner from pg_tables where schemaname = 'public' order by 1",
    )
    expect(tables).toEqual([
      { tablename: 'orders', tableowner: 'app' },
      { tablename: 'users', tableowner: 'app' },
    ])
    expect(await rows(withDatabase(pgc.url, 'check_tpl'), 'select name from users order by id')).toEqual([
      { name: 'ada' },
      { name: 'grace' },
    ])
    await rows(pgc.superuser.url, 'drop database check_tpl')
    // A changed seed is a different key.
    fs.writeFileSync(path.join(dir, 'seed2.sql'), "insert into users (name) values ('linus');")
    const third = await ensureTemplate({ ...options, seed: 'seed2.sql' })
    expect(third.built).toBe(true)
    expect(third.name).not.toBe(first.name)
  })

  test('concurrent builders of the same key build once (function migrations, run as the app user)', async () => {
    let builds = 0
    const migrations = async (url: string) => {
      builds++
      await rows(url, 'create table counted (who text default current_user)')
      await new Promise((r) => setTimeout(r, 200))
      await rows(url, 'insert into counted default values')
    }
    const results = await Promise.all(
      ['r1', 'r2', 'r3'].map((runId) =>
        ensureTemplate({ adminUrl: pgc.superuser.url, appUrl: pgc.url, runId, migrations }),
      ),
    )
    expect(builds).toBe(1)
    expect(results.filter((r) => r.built)).toHaveLength(1)
    expect(new Set(results.map((r) => r.name)).size).toBe(1)
  })

  test('a shell command migrates with DATABASE_URL set; its inputs are part of the key', async () => {
    fs.writeFileSync(path.join(dir, 'schema.txt'), 'v1')
    const migrations = {
      command: `node -e "const pg=require('pg');const c=new pg.Client(process.env.DATABASE_URL);c.connect().then(()=>c.query('create table from_cmd(x int)')).then(()=>c.end())"`,
      inputs: [path.join(dir, 'schema.txt')],
    }
    const cwd = process.cwd()
    const a = await ensureTemplate({
      adminUrl: pgc.superuser.url,
      appUrl: pgc.url,
      runId: 'c1',
      migrations,
      cwd,
    })
    expect(a.built).toBe(true)
    const same = await ensureTemplate({
      adminUrl: pgc.superuser.url,
      appUrl: pgc.url,
      runId: 'c2',
      migrations,
      cwd,
    })
    expect(same).toMatchObject({ name: a.name, built: false })
    fs.writeFileSync(path.join(dir, 'schema.txt'), 'v2')
    const b = await ensureTemplate({
      adminUrl: pgc.superuser.url,
      appUrl: pgc.url,
      runId: 'c3',
      migrations,
      cwd,
    })
    expect(b.built).toBe(true)
    expect(b.name).not.toBe(a.name)
  })

  test('a seed that fails at run time (no position from PostgreSQL) names the line of the failing statement', async () => {
    const cases: [string, string, string][] = [
      [
        'seed-dup.sql',
        "insert into users (name) values ('a');\n\n-- again, by id\ninsert into users (id, name) values (1, 'x'), (1, 'y');\n",
        'line 4',
      ],
      ['seed-div.sql', '/* header */\nselect 1;\n  select 1/0;\nselect $$;$$;\n', 'line 3'],
      [
        'seed-null.sql',
        "insert into users (name) values ('ok');\ninsert into users (name) values (null);",
        'line 2',
      ],
    ]
    for (const [file, sql, line] of cases) {
      fs.writeFileSync(path.join(dir, file), sql)
      const error = await ensureTemplate({
        adminUrl: pgc.superuser.url,
        appUrl: pgc.url,
        runId: 'seedline',
        migrations: 'migrations',
        seed: file,
        cwd: dir,
      }).catch((e: Error) => e)
      expect(error).toMatchObject({ code: 'E_MIGRATION_FAILED' })
      expect((error as Error).message).toMatch(new RegExp(`^seed ${file} failed \\(${line}\\): `))
    }
  })

  test('a failing migration is one line naming the file, the line and the server error; nothing is left behind', async () => {
    fs.mkdirSync(path.join(dir, 'bad'))
    fs.writeFileSync(path.join(dir, 'bad', '001_ok.sql'), 'create table ok (id int);')
    fs.writeFileSync(
      path.join(dir, 'bad', '002_broken.sql'),
      'create table t2 (id int);\nselect * from missing_table;',
    )
    const error = await ensureTemplate({
      adminUrl: pgc.superuser.url,
      appUrl: pgc.url,
      runId: 'bad',
      migrations: 'bad',
      cwd: dir,
    }).catch((e: Error) => e)
    expect(error).toMatchObject({ code: 'E_MIGRATION_FAILED' })
    expect((error as Error).message).toBe(
      'migration bad/002_broken.sql failed (line 2): relation "missing_table" does not exist; fix the file and run again',
    )
    expect((error as Error).message).not.toContain('\n')
    const left = await rows(
      pgc.superuser.url,
      "select datname from pg_database where datname like 'pgrig_tplb_%'",
    )
    expect(left).toEqual([])
  })

  test('a Prisma project applies offline without the Prisma CLI; a changed migration is a new template', async () => {
    const project = path.join(dir, 'prisma')
    const write = (name: string, text: string) => {
      fs.mkdirSync(path.dirname(path.join(project, name)), { recursive: true })
      fs.writeFileSync(path.join(project, name), text)
    }
    write('schema.prisma', 'datasource db {\n  provider = "postgresql"\n  url = env("DATABASE_URL")\n}\n')
    write('migrations/migration_lock.toml', 'provider = "postgresql"\n')
    write(
      'migrations/20240101000000_init/migration.sql',
      '-- CreateTable\nCREATE TABLE "User" ("id" SERIAL NOT NULL, "email" TEXT NOT NULL, CONSTRAINT "User_pkey" PRIMARY KEY ("id"));\n',
    )
    write(
      'migrations/20240201000000_posts/migration.sql',
      'CREATE TABLE "Post" ("id" SERIAL PRIMARY KEY, "authorId" INTEGER NOT NULL REFERENCES "User"("id"));\n',
    )
    const options = {
      adminUrl: pgc.superuser.url,
      appUrl: pgc.url,
      runId: 'prisma',
      migrations: 'prisma',
      cwd: dir,
    }
    const built = await ensureTemplate(options)
    await rows(pgc.superuser.url, `create database check_prisma template ${built.name}`)
    expect(
      await rows(
        withDatabase(pgc.url, 'check_prisma'),
        "select tablename, tableowner from pg_tables where schemaname = 'public' order by 1",
      ),
    ).toEqual([
      { tablename: 'Post', tableowner: 'app' },
      { tablename: 'User', tableowner: 'app' },
    ])
    await rows(pgc.superuser.url, 'drop database check_prisma')
    write('migrations/20240201000000_posts/migration.sql', 'CREATE TABLE "Post" ("id" SERIAL PRIMARY KEY);\n')
    expect((await ensureTemplate(options)).name).not.toBe(built.name)
  })

  test('a dbmate migration runs its up section only; an error names the line in the file', async () => {
    fs.mkdirSync(path.join(dir, 'db', 'migrations'), { recursive: true })
    fs.writeFileSync(
      path.join(dir, 'db', 'migrations', '20240101000000_init.sql'),
      '-- migrate:up\ncreate table kept (id int);\n\n-- migrate:down\ndrop table nothing_here;\n',
    )
    fs.writeFileSync(
      path.join(dir, 'db', 'migrations', '20240102000000_broken.sql'),
      '-- a comment\n-- migrate:up\ncreate table t3 (id int);\nselect * from missing_table;\n-- migrate:down\n',
    )
    const error = await ensureTemplate({
      adminUrl: pgc.superuser.url,
      appUrl: pgc.url,
      runId: 'dbmate',
      migrations: 'db/migrations',
      cwd: dir,
    }).catch((e: Error) => e)
    expect((error as Error).message).toBe(
      'migration db/migrations/20240102000000_broken.sql failed (line 4): relation "missing_table" does not exist; fix the file and run again',
    )
  })

  test('a failing command names the command and its last output line', async () => {
    const error = await ensureTemplate({
      adminUrl: pgc.superuser.url,
      appUrl: pgc.url,
      runId: 'cmd',
      migrations: { command: 'echo "migrate: boom" >&2; exit 3' },
    }).catch((e: Error) => e)
    expect((error as Error).message).toMatch(/^migration command `.*` exited with 3: migrate: boom;/)
  })

  test('templateInputs names what a function migration reads: a change there rebuilds, elsewhere not; a glob works', async () => {
    const project = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-tpl-inputs-'))
    try {
      fs.mkdirSync(path.join(project, 'src', 'db'), { recursive: true })
      fs.writeFileSync(path.join(project, 'src', 'db', 'schema.sql'), 'create table a (id int);')
      fs.writeFileSync(path.join(project, 'README.md'), 'one')
      const migrations = async (url: string) => {
        const sql = fs.readFileSync(path.join(project, 'src', 'db', 'schema.sql'), 'utf8')
        await withClient(url, (c) => c.query(sql))
      }
      const options = {
        adminUrl: pgc.superuser.url,
        appUrl: pgc.url,
        runId: 'inputs',
        migrations,
        cwd: project,
        templateInputs: ['src/db/**/*.sql'],
      }
      const first = await ensureTemplate(options)
      expect(first.key).toBe(
        `the migration function and 1 file of 'src/db/**/*.sql', server ${first.serverVersionNum}, format pgrig-template-v2`,
      )
      fs.writeFileSync(path.join(project, 'README.md'), 'two')
      expect((await ensureTemplate(options)).name).toBe(first.name)
      fs.writeFileSync(path.join(project, 'src', 'db', 'schema.sql'), 'create table b (id int);')
      const rebuilt = await ensureTemplate(options)
      expect(rebuilt.name).not.toBe(first.name)
      expect(rebuilt.built).toBe(true)
      // Unnamed, every file of the project counts: the README too.
      const all = await ensureTemplate({ ...options, templateInputs: undefined })
      fs.writeFileSync(path.join(project, 'README.md'), 'three')
      expect((await ensureTemplate({ ...options, templateInputs: undefined })).name).not.toBe(all.name)
    } finally {
      fs.rmSync(project, { recursive: true, force: true })
    }
  })
})
