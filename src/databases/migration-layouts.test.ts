import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { compareNumbered, planMigrations } from './migration-layouts.js'

const roots: string[] = []
afterAll(() => roots.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })))

/** A temp folder holding `files` (path → contents). */
function folder(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-layout-'))
  roots.push(dir)
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true })
    fs.writeFileSync(path.join(dir, name), text)
  }
  return dir
}

function applied(dir: string) {
  const plan = planMigrations(dir)
  return { tool: plan.tool, files: plan.steps.map((step) => path.relative(plan.folder, step.file)) }
}

describe('planMigrations recognises the layout and applies it in the tool’s own order', () => {
  test('Prisma: <timestamp>_<name>/migration.sql folders, by name; migration_lock.toml ignored', () => {
    const dir = folder({
      'migration_lock.toml': 'provider = "postgresql"\n',
      '20240102000000_posts/migration.sql': 'create table posts ();',
      '20240101000000_init/migration.sql': 'create table users ();',
    })
    expect(applied(dir)).toEqual({
      tool: 'prisma',
      files: ['20240101000000_init/migration.sql', '20240102000000_posts/migration.sql'],
    })
  })

  test('Prisma: the prisma/ project folder is read through its migrations folder', () => {
    const dir = folder({
      'schema.prisma': 'datasource db { provider = "postgresql" }\n',
      'migrations/migration_lock.toml': '',
      'migrations/20240101000000_init/migration.sql': 'create table users ();',
    })
    const plan = planMigrations(dir)
    expect(plan.folder).toBe(path.join(dir, 'migrations'))
    expect(applied(dir).files).toEqual(['20240101000000_init/migration.sql'])
  })

  test('Drizzle Kit: the journal’s order, not the file names’', () => {
    const journal = {
      version: '7',
      dialect: 'postgresql',
      entries: [
        { idx: 1, version: '7', when: 2, tag: '0000_zebra', breakpoints: true },
        { idx: 0, version: '7', when: 1, tag: '0001_apple', breakpoints: true },
      ],
    }
    const dir = folder({
      'meta/_journal.json': JSON.stringify(journal),
      '0000_zebra.sql': 'create table b ();',
      '0001_apple.sql': 'create table a ();\n--> statement-breakpoint\ncreate table c ();',
      'stray.sql': 'not in the journal',
    })
    expect(applied(dir)).toEqual({ tool: 'drizzle', files: ['0001_apple.sql', '0000_zebra.sql'] })
  })

  test('Drizzle Kit: a journal naming a missing file is one line', () => {
    const dir = folder({ 'meta/_journal.json': JSON.stringify({ entries: [{ idx: 0, tag: '0000_gone' }] }) })
    expect(() => planMigrations(dir)).toThrow(/lists 0000_gone but .*0000_gone\.sql does not exist/)
  })

  test('golang-migrate: *.up.sql by version number, *.down.sql skipped', () => {
    const dir = folder({
      '10_ten.up.sql': '',
      '10_ten.down.sql': '',
      '2_two.up.sql': '',
      '2_two.down.sql': '',
      '1_one.up.sql': '',
    })
    expect(applied(dir)).toEqual({
      tool: 'golang-migrate',
      files: ['1_one.up.sql', '2_two.up.sql', '10_ten.up.sql'],
    })
  })

  test('dbmate: only the -- migrate:up section runs, with its lines counted from the file', () => {
    const text = '-- migrate:up\ncreate table users (id int);\n\n-- migrate:down\ndrop table users;\n'
    const dir = folder({
      '20240102_b.sql': '-- migrate:up transaction:false\nselect 2;\n',
      '20240101_a.sql': text,
    })
    const plan = planMigrations(dir)
    expect(plan.tool).toBe('dbmate')
    expect(plan.steps.map((step) => step.sql.trim())).toEqual(['create table users (id int);', 'select 2;'])
    // The line PostgreSQL's error position falls on, counted in the file: `create` is on line 2.
    const { sql, lineOffset } = plan.steps[0]!
    expect(sql.slice(0, sql.indexOf('create')).split('\n').length + lineOffset).toBe(2)
  })

  test('Flyway: V<version>__ by version (V2 before V10, V1.1 before V1.2), then R__, undo files skipped', () => {
    const dir = folder({
      'V10__ten.sql': '',
      'V2__two.sql': '',
      'V1_2__one_two.sql': '',
      'V1.1__one_one.sql': '',
      'U2__undo_two.sql': '',
      'R__views.sql': '',
    })
    expect(applied(dir)).toEqual({
      tool: 'flyway',
      files: ['V1.1__one_one.sql', 'V1_2__one_two.sql', 'V2__two.sql', 'V10__ten.sql', 'R__views.sql'],
    })
  })

  test('plain numbered files: by number, then name; other files ignored', () => {
    const dir = folder({ '10_c.sql': '', '2_b.sql': '', '001_a.sql': '', 'README.md': '' })
    expect(applied(dir)).toEqual({ tool: 'sql', files: ['001_a.sql', '2_b.sql', '10_c.sql'] })
    expect(['b.sql', 'a.sql', '3.sql', '20.sql'].sort(compareNumbered)).toEqual([
      '3.sql',
      '20.sql',
      'a.sql',
      'b.sql',
    ])
  })

  test('a single file is applied as it is', () => {
    const dir = folder({ 'schema.sql': 'create table t ();' })
    expect(applied(path.join(dir, 'schema.sql'))).toEqual({ tool: 'file', files: ['schema.sql'] })
  })
})

describe('a folder with nothing to apply is one error naming what was looked for', () => {
  test('an empty folder', () => {
    const dir = folder({})
    expect(() => planMigrations(dir)).toThrow(
      expect.objectContaining({
        code: 'E_CONFIG_INVALID',
        message: expect.stringMatching(
          /migrations folder .* is empty \(looked for Prisma .*Drizzle Kit .*golang-migrate .*dbmate .*Flyway .*plain \.sql files\)/,
        ),
      }),
    )
  })

  test('a Prisma lock file without migrations, or only a schema, says so too', () => {
    expect(() => planMigrations(folder({ 'migration_lock.toml': '' }))).toThrow(
      /holds no migration pgrig recognises/,
    )
  })

  test('TypeScript migrations point at a function migration', () => {
    const dir = folder({ '2024_init.ts': 'export async function up() {}' })
    expect(() => planMigrations(dir)).toThrow(/2024_init\.ts.*pass a function \(url\) => Promise<void>/)
  })

  test('a missing folder', () => {
    expect(() => planMigrations('/nonexistent/migrations')).toThrow(/does not exist/)
  })
})
