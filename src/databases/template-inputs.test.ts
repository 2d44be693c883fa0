import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { fixtureProject, repoRoot, runIn } from '../../test/support/fixture-project.js'
import { privateRunRoot } from '../../test/support/run-root.js'
import { startServer, type StartedServer } from '../servers/start-server.js'

privateRunRoot('template-inputs')

const vitest = path.join(repoRoot, 'node_modules', 'vitest', 'vitest.mjs')
let pgc: StartedServer
let dir: string

/**
 * test/fixtures/kysely-project (Kysely's FileMigrationProvider reads a folder of .ts migrations in a
 * function migration), with a migration that imports a file of the project and a spec that says
 * what the template holds. Every run uses the same server, where templates outlive runs.
 */
beforeAll(async () => {
  pgc = await startServer({ name: 'template-inputs', quiet: true })
  dir = fixtureProject('kysely-project')
  const write = (file: string, text: string) => {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true })
    fs.writeFileSync(path.join(dir, file), text)
  }
  write(
    'migrate.ts',
    fs.readFileSync(path.join(dir, 'migrate.ts'), 'utf8').replace(/\n\s*if \(results\?\.length[^\n]*/, ''),
  )
  write('src/db/columns.ts', "export const NICK = 'nick'\n")
  write(
    'migrations/0001_people.ts',
    [
      "import type { Kysely } from 'kysely'",
      "import { NICK } from '../src/db/columns.ts'",
      '',
      'export async function up(db: Kysely<unknown>): Promise<void> {',
      "  await db.schema.createTable('person').addColumn('id', 'serial', (c) => c.primaryKey())",
      "    .addColumn('name', 'text').addColumn(NICK, 'text').execute()",
      '}',
      '',
    ].join('\n'),
  )
  write(
    'people.spec.ts',
    [
      "import fs from 'node:fs'",
      "import { test } from 'pgrig/vitest'",
      '',
      "test('what the template holds', async ({ db }) => {",
      "  const tables = await db.query(\"select string_agg(table_name, ',' order by table_name) as t from information_schema.tables where table_schema = 'public'\")",
      "  const columns = await db.query(\"select string_agg(column_name, ',' order by column_name) as c from information_schema.columns where table_name = 'person'\")",
      "  fs.appendFileSync(process.env.FIXTURE_OUT!, JSON.stringify({ test: 'schema', name: `${tables[0].t}|${columns[0].c}` }) + '\\n')",
      '})',
      '',
    ].join('\n'),
  )
})

afterAll(async () => {
  await pgc?.stop()
  if (dir) fs.rmSync(dir, { recursive: true, force: true })
})

async function run(): Promise<{ schema: string | undefined; reused: string | undefined }> {
  const ran = await runIn(dir, ['timeout', '120', process.execPath, vitest, 'run'], {
    PGRIG_RUN_ID: pgc.runId,
  })
  expect(ran.code, ran.output).toBe(0)
  return {
    schema: ran.records.find((r) => r.test === 'schema')?.name,
    reused: /^pgrig: template reused: .*$/m.exec(ran.output)?.[0],
  }
}

test('a function migration reading .ts files: a new migration, or an edit of a file one imports, rebuilds the template; otherwise it is reused and the line names the key', async () => {
  const first = await run()
  expect(first.schema).toBe('kysely_migration,kysely_migration_lock,person,pet|id,name,nick')
  expect(first.reused).toBeUndefined()

  const again = await run()
  expect(again.schema).toBe(first.schema)
  expect(again.reused).toMatch(
    /^pgrig: template reused: pgrig_tpl_[0-9a-f]{16} \(key covers the migration function and \d+ project files .*, server \d+, format pgrig-template-v2\)$/,
  )

  fs.writeFileSync(
    path.join(dir, 'migrations', '0003_toys.ts'),
    "import type { Kysely } from 'kysely'\nexport async function up(db: Kysely<unknown>): Promise<void> {\n  await db.schema.createTable('toy').addColumn('id', 'integer').execute()\n}\n",
  )
  const added = await run()
  expect(added.reused).toBeUndefined()
  expect(added.schema).toBe('kysely_migration,kysely_migration_lock,person,pet,toy|id,name,nick')

  fs.writeFileSync(path.join(dir, 'src', 'db', 'columns.ts'), "export const NICK = 'nickname'\n")
  const edited = await run()
  expect(edited.reused).toBeUndefined()
  expect(edited.schema).toBe('kysely_migration,kysely_migration_lock,person,pet,toy|id,name,nickname')
}, 300_000)
