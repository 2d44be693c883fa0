import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../servers/start-server.js'
import { debianPackage, missingExtension } from '../engine/extensions.js'
import { withClient } from './admin.js'
import { withDatabase } from '../servers/libpq-url.js'
import { ensureTemplate, type TemplateOptions } from './template.js'
import { openTestDatabase } from './test-database.js'
import { privateRunRoot } from '../../test/support/run-root.js'

privateRunRoot('extensions')

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-ext-'))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

function migrations(name: string, sql: string): string {
  fs.mkdirSync(path.join(dir, name))
  fs.writeFileSync(path.join(dir, name, '001_init.sql'), sql)
  return name
}

function templateOf(pgc: StartedServer, runId: string, extra: Partial<TemplateOptions>) {
  return ensureTemplate({
    adminUrl: pgc.superuser.url,
    appUrl: pgc.url,
    runId,
    cwd: dir,
    server: { engine: pgc.info.engine, version: pgc.info.version },
    ...extra,
  })
}

test('the missing extension is read from the messages of PostgreSQL 15 and 16+', () => {
  expect(
    missingExtension(
      'could not open extension control file "/usr/share/postgresql/15/extension/vector.control": No such file or directory',
    ),
  ).toBe('vector')
  expect(missingExtension('extension "postgis" is not available')).toBe('postgis')
  expect(missingExtension('relation "x" does not exist')).toBeUndefined()
  expect(debianPackage('vector', 17)).toBe('postgresql-17-pgvector')
  expect(debianPackage('postgis', 15)).toBe('postgresql-15-postgis-3')
})

describe("Debian's PostgreSQL 15 through the system engine", () => {
  let pgc: StartedServer
  beforeAll(async () => {
    pgc = await startServer({ name: 'ext-system', engine: 'system', pg: 15, quiet: true })
  })
  afterAll(() => pgc?.stop())

  test('CREATE EXTENSION postgis and pgtap work; the app user uses them in its own tables', async () => {
    const folder = migrations(
      'postgis',
      'create extension if not exists postgis;\ncreate table places (name text, at geometry(Point, 4326));\n',
    )
    const template = await templateOf(pgc, 'postgis', {
      migrations: folder,
      extensions: ['postgis', 'pgtap'],
    })
    await withClient(pgc.superuser.url, (c) => c.query(`create database ext_check template ${template.name}`))
    const db = await openTestDatabase({
      name: 'ext_check',
      url: withDatabase(pgc.url, 'ext_check'),
      adminUrl: withDatabase(pgc.superuser.url, 'ext_check'),
    })
    try {
      await db.sql`insert into places values (${'home'}, ST_SetSRID(ST_MakePoint(2.35, 48.85), 4326))`
      expect(await db.query('select name, ST_AsText(at) as at from places')).toEqual([
        { name: 'home', at: 'POINT(2.35 48.85)' },
      ])
      expect(await db.query('select * from plan(1) union all select ok(true)')).toHaveLength(2)
      // A test's own query asking for an extension the server lacks names the package.
      const error = await db.query('create extension vector').catch((e: Error) => e)
      expect(error).toMatchObject({ code: expect.stringMatching(/^(0A000|58P01)$/) })
      expect((error as Error).message).toMatch(
        /; extension "vector" is not installed in this server; install postgresql-N-pgvector/,
      )
    } finally {
      await db.close()
    }
  })

  test('a migration creating an extension the system lacks is one line naming its package for this major', async () => {
    const folder = migrations('vector15', 'create extension vector;\n')
    const error = await templateOf(pgc, 'vector15', { migrations: folder }).catch((e: Error) => e)
    expect(error).toMatchObject({ code: 'E_MIGRATION_FAILED' })
    expect((error as Error).message).toMatch(
      /^migration vector15\/001_init\.sql failed: extension "vector" is not installed in PostgreSQL 15\.\d+ \(engine system\); install postgresql-15-pgvector \(Debian\/Ubuntu\) or `brew install pgvector` \(macOS\) for this server$/,
    )
  })

  test('an extension only the superuser may create points at the extensions option', async () => {
    const folder = migrations('postgis-as-app', 'create extension postgis;\n')
    const error = await templateOf(pgc, 'asapp', { migrations: folder }).catch((e: Error) => e)
    expect((error as Error).message).toMatch(
      /permission denied to create extension "postgis"; migrations run as the app user: add extensions: \['postgis'\]/,
    )
  })
})

describe('an embedded engine (contrib only)', () => {
  let pgc: StartedServer
  beforeAll(async () => {
    pgc = await startServer({ name: 'ext-embedded', quiet: true })
  })
  afterAll(() => pgc?.stop())

  test('the missing-extension line names the engine, the OS package and --engine system --pg N', async () => {
    const major = pgc.info.version.split('.')[0]
    const error = await templateOf(pgc, 'emb', { extensions: ['postgis'] }).catch((e: Error) => e)
    expect(error).toMatchObject({ code: 'E_MIGRATION_FAILED' })
    expect((error as Error).message).toBe(
      `extensions: extension "postgis" is not installed in PostgreSQL ${pgc.info.version} (engine embedded, which ships the contrib extensions only); ` +
        `install postgresql-${major}-postgis-3 (Debian/Ubuntu) or \`brew install postgis\` (macOS) and run on that PostgreSQL with --engine system --pg ${major} (engine: 'system', pg: ${major})`,
    )
  })
})
