import fs from 'node:fs'
import path from 'node:path'
import { PgrigError } from '../errors.js'

/** The migration tools whose folder layouts pgrig applies itself, in their own order. */
export type MigrationTool = 'file' | 'prisma' | 'drizzle' | 'golang-migrate' | 'dbmate' | 'flyway' | 'sql'

export interface MigrationStep {
  /** Absolute path of the file the SQL comes from. */
  file: string
  /** What is run: the whole file, or the `up` section of a dbmate file. */
  sql: string
  /** Lines of the file before `sql` starts, so an error's line is the file's. */
  lineOffset: number
}

export interface MigrationPlan {
  tool: MigrationTool
  /** The folder the steps were read from (a Prisma project's `migrations` folder when given the project's). */
  folder: string
  steps: MigrationStep[]
}

const LOOKED_FOR =
  'looked for Prisma (<name>/migration.sql folders), Drizzle Kit (meta/_journal.json), golang-migrate (*.up.sql), dbmate (-- migrate:up), Flyway (V<n>__*.sql) and plain .sql files'

function wholeFile(file: string): MigrationStep {
  return { file, sql: fs.readFileSync(file, 'utf8'), lineOffset: 0 }
}

function bigintOrUndefined(digits: string | undefined): bigint | undefined {
  return digits === undefined ? undefined : BigInt(digits)
}

/** Numbered names by their number (`2_b` before `10_a`), then by name, as migration tools order them. */
export function compareNumbered(a: string, b: string): number {
  const x = bigintOrUndefined(/^\d+/.exec(a)?.[0])
  const y = bigintOrUndefined(/^\d+/.exec(b)?.[0])
  if (x !== undefined && y !== undefined && x !== y) return x < y ? -1 : 1
  return a < b ? -1 : a > b ? 1 : 0
}

function entries(folder: string): fs.Dirent[] {
  return fs.readdirSync(folder, { withFileTypes: true })
}

function prisma(folder: string): MigrationStep[] | undefined {
  const dirs = entries(folder)
    .filter((entry) => entry.isDirectory() && fs.existsSync(path.join(folder, entry.name, 'migration.sql')))
    .map((entry) => entry.name)
  if (dirs.length === 0 && !fs.existsSync(path.join(folder, 'migration_lock.toml'))) return undefined
  // Prisma applies the folders in name order (their names start with a timestamp).
  return dirs.sort().map((dir) => wholeFile(path.join(folder, dir, 'migration.sql')))
}

function drizzle(folder: string): MigrationStep[] | undefined {
  const journalFile = path.join(folder, 'meta', '_journal.json')
  if (!fs.existsSync(journalFile)) return undefined
  let journal: { entries?: { idx: number; tag: string }[] }
  try {
    journal = JSON.parse(fs.readFileSync(journalFile, 'utf8')) as typeof journal
  } catch (error) {
    throw new PgrigError(
      'E_CONFIG_INVALID',
      `Drizzle Kit journal ${journalFile} is not valid JSON (${(error as Error).message}); regenerate it with drizzle-kit generate`,
    )
  }
  return [...(journal.entries ?? [])]
    .sort((a, b) => a.idx - b.idx)
    .map(({ tag }) => {
      const file = path.join(folder, `${tag}.sql`)
      if (!fs.existsSync(file)) {
        throw new PgrigError(
          'E_CONFIG_INVALID',
          `Drizzle Kit journal ${journalFile} lists ${tag} but ${file} does not exist; regenerate the migrations with drizzle-kit generate`,
        )
      }
      return wholeFile(file)
    })
}

function golangMigrate(folder: string, names: string[]): MigrationStep[] | undefined {
  const ups = names.filter((name) => name.endsWith('.up.sql'))
  if (ups.length === 0) return undefined
  return ups.sort(compareNumbered).map((name) => wholeFile(path.join(folder, name)))
}

const DBMATE_UP = /^--\s*migrate:up\b.*$/m
const DBMATE_DOWN = /^--\s*migrate:down\b.*$/m

/** The `-- migrate:up` section of a dbmate file, up to its `-- migrate:down`. */
export function dbmateUp(file: string, text: string): MigrationStep {
  const up = DBMATE_UP.exec(text)!
  const start = up.index + up[0].length
  const rest = text.slice(start)
  const down = DBMATE_DOWN.exec(rest)
  const sql = down ? rest.slice(0, down.index) : rest
  return { file, sql, lineOffset: text.slice(0, start).split('\n').length - 1 }
}

function dbmate(folder: string, names: string[]): MigrationStep[] | undefined {
  const files = names
    .filter((name) => name.endsWith('.sql'))
    .map((name) => ({ name, text: fs.readFileSync(path.join(folder, name), 'utf8') }))
  if (!files.some(({ text }) => DBMATE_UP.test(text))) return undefined
  return files
    .filter(({ text }) => DBMATE_UP.test(text))
    .sort((a, b) => compareNumbered(a.name, b.name))
    .map(({ name, text }) => dbmateUp(path.join(folder, name), text))
}

const FLYWAY_VERSIONED = /^V(\d+(?:[._]\d+)*)__.*\.sql$/
const FLYWAY_REPEATABLE = /^R__(.*)\.sql$/

function flywayVersion(name: string): bigint[] {
  return FLYWAY_VERSIONED.exec(name)![1]!.split(/[._]/).map(BigInt)
}

function compareVersions(a: bigint[], b: bigint[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0n) - (b[i] ?? 0n)
    if (d !== 0n) return d < 0n ? -1 : 1
  }
  return 0
}

function flyway(folder: string, names: string[]): MigrationStep[] | undefined {
  const versioned = names.filter((name) => FLYWAY_VERSIONED.test(name))
  if (versioned.length === 0) return undefined
  // Versioned migrations by version (V2 before V10, V1.1 before V1.2), then repeatable ones by description;
  // undo (U…) and baseline (B…) files are not part of a fresh migrate.
  const repeatable = names.filter((name) => FLYWAY_REPEATABLE.test(name)).sort()
  return [
    ...versioned.sort((a, b) => compareVersions(flywayVersion(a), flywayVersion(b))),
    ...repeatable,
  ].map((name) => wholeFile(path.join(folder, name)))
}

function plain(folder: string, names: string[]): MigrationStep[] | undefined {
  const files = names.filter((name) => name.endsWith('.sql') && !name.endsWith('.down.sql'))
  if (files.length === 0) return undefined
  return files.sort(compareNumbered).map((name) => wholeFile(path.join(folder, name)))
}

/** A Prisma project folder (`prisma/`) holds its migrations one level down. */
function prismaProjectMigrations(folder: string): string | undefined {
  const inner = path.join(folder, 'migrations')
  const hasSchema = fs.existsSync(path.join(folder, 'schema.prisma'))
  const hasLock = fs.existsSync(path.join(inner, 'migration_lock.toml'))
  return (hasSchema || hasLock) && fs.statSync(inner, { throwIfNoEntry: false })?.isDirectory()
    ? inner
    : undefined
}

function nothingRecognised(folder: string, names: string[]): PgrigError {
  const code = names.filter((name) => /\.(c|m)?(t|j)s$/.test(name))
  const what = names.length === 0 ? 'is empty' : 'holds no migration pgrig recognises'
  const hint = code.length
    ? `; for migrations written in code (${code.slice(0, 2).join(', ')}…, Kysely, Knex…) pass a function (url) => Promise<void> that runs them`
    : '; point migrations at the folder your tool writes'
  return new PgrigError('E_CONFIG_INVALID', `migrations folder ${folder} ${what} (${LOOKED_FOR})${hint}`)
}

/**
 * What a migrations path applies, recognising the layout of the tool that wrote it: Prisma, Drizzle
 * Kit, golang-migrate, dbmate, Flyway, else plain `.sql` files in numbered order. A single file is
 * applied as it is. A folder with nothing recognised is an error naming what was looked for.
 */
export function planMigrations(target: string): MigrationPlan {
  const stat = fs.statSync(target, { throwIfNoEntry: false })
  if (!stat) {
    throw new PgrigError(
      'E_CONFIG_INVALID',
      `migrations folder ${target} does not exist; create it or point migrations at your .sql folder`,
    )
  }
  if (stat.isFile()) return { tool: 'file', folder: path.dirname(target), steps: [wholeFile(target)] }
  const folder = prismaProjectMigrations(target) ?? target
  const names = entries(folder)
    .filter((entry) => entry.isFile())
    .map((entry) => entry.name)
  const layouts: [MigrationTool, () => MigrationStep[] | undefined][] = [
    ['prisma', () => prisma(folder)],
    ['drizzle', () => drizzle(folder)],
    ['golang-migrate', () => golangMigrate(folder, names)],
    ['dbmate', () => dbmate(folder, names)],
    ['flyway', () => flyway(folder, names)],
    ['sql', () => plain(folder, names)],
  ]
  for (const [tool, read] of layouts) {
    const steps = read()
    if (steps && steps.length > 0) return { tool, folder, steps }
  }
  throw nothingRecognised(folder, fs.readdirSync(folder))
}
