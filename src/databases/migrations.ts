import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { missingExtension, missingExtensionHint, type ExtensionServer } from '../engine/extensions.js'
import { PgrigError } from '../errors.js'
import { quoteIdentifier } from '../servers/sql-quote.js'
import { withClient } from './admin.js'
import { planMigrations, type MigrationStep } from './migration-layouts.js'
import { hashTemplateInputs } from './template-inputs.js'
import { allowTypeScriptImports } from './typescript-imports.js'

/**
 * Where a schema comes from: a folder of migrations as a tool lays them out (Prisma, Drizzle Kit,
 * golang-migrate, dbmate, Flyway, or numbered `.sql` files; see migration-layouts.ts), a function given
 * the database URL, or a shell command run with `DATABASE_URL` set (prisma, node-pg-migrate…).
 * A command's own files are invisible to pgrig: list them in `inputs` so a change rebuilds the template.
 */
export type Migrations = string | ((url: string) => Promise<void>) | { command: string; inputs?: string[] }

export interface SchemaSource {
  /**
   * Extensions the superuser creates in the template before the migrations run (`postgis`,
   * `vector`…): migrations run as the app user, who may create only trusted ones. A migration's own
   * `CREATE EXTENSION IF NOT EXISTS` then finds them there.
   */
  extensions?: string[] | undefined
  migrations?: Migrations | undefined
  /** A `.sql` file run after the migrations. */
  seed?: string | undefined
  /** Folder that relative paths are read from; the process's cwd by default. */
  cwd?: string | undefined
  /**
   * The files a function or command migration reads (paths, folders or globs like `'src/db/**'`):
   * the template is rebuilt when one changes. Unset, every file of the project counts.
   */
  templateInputs?: string[] | undefined
}

function readSeed(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch {
    throw new PgrigError('E_CONFIG_INVALID', `seed file ${file} cannot be read; check the path`)
  }
}

/**
 * A hash of everything in the source that shapes the schema; the caller adds server facts.
 * Says what the key covers, for the line that names it.
 */
export async function fingerprintSource(
  source: SchemaSource,
  hash: ReturnType<typeof createHash>,
): Promise<string[]> {
  const cwd = source.cwd ?? process.cwd()
  const { migrations, seed } = source
  const covers: string[] = []
  if (source.extensions?.length) {
    hash.update(`extensions:${JSON.stringify(source.extensions)}\n`)
    covers.push(`extensions ${source.extensions.join(', ')}`)
  }
  if (typeof migrations === 'string') {
    // What is applied, in the order it is applied: a reordered journal or a new down section counts.
    const plan = planMigrations(path.resolve(cwd, migrations))
    hash.update(`layout:${plan.tool}\n`)
    for (const step of plan.steps) {
      hash
        .update(`sql:${path.relative(plan.folder, step.file)}\n`)
        .update(step.sql)
        .update('\n')
    }
    covers.push(`migrations ${migrations} (${plan.steps.length} steps, ${plan.tool})`)
  } else if (typeof migrations === 'function' || migrations) {
    // A function or command reads files pgrig cannot see: the ones named, else the project's.
    const named =
      typeof migrations === 'function'
        ? source.templateInputs
        : migrations.inputs || source.templateInputs
          ? [...(migrations.inputs ?? []), ...(source.templateInputs ?? [])]
          : undefined
    hash.update(
      typeof migrations === 'function' ? `fn:${migrations.toString()}\n` : `command:${migrations.command}\n`,
    )
    const inputs = await hashTemplateInputs(hash, named, cwd)
    covers.push(
      `${typeof migrations === 'function' ? 'the migration function' : `\`${migrations.command}\``} and ${inputs}`,
    )
  } else if (source.templateInputs?.length) {
    covers.push(`${await hashTemplateInputs(hash, source.templateInputs, cwd)}`)
  }
  if (seed) {
    hash.update('seed\n').update(readSeed(path.resolve(cwd, seed)))
    covers.push(`seed ${seed}`)
  }
  return covers
}

function lineOf(sql: string, position: string | undefined, offset: number): string {
  if (!position) return ''
  const line = sql.slice(0, Number(position)).split('\n').length + offset
  return ` (line ${line})`
}

/** Statements that end, nest or escape a transaction: a file with them is not replayed to find a line. */
const NOT_REPLAYED =
  /^\s*(begin|start|commit|end|rollback|abort|savepoint|release|prepare|vacuum|create\s+database|drop\s+database|alter\s+system|copy\b|\\)/i

/**
 * ` (line N)` for the statement of `sql` that fails, found by running the statements one by one in
 * a transaction that is rolled back (the file's own run already rolled back as a whole); '' when
 * the file holds statements that cannot be replayed so, or none fails again.
 */
async function failingStatementLine(client: pg.Client, sql: string, offset: number): Promise<string> {
  // Loaded only for a failed file: every run that migrates imports this module.
  const { splitQuery, postgreSplitterOptions } = await import('dbgate-query-splitter')
  const statements = splitQuery(sql, { ...postgreSplitterOptions, returnRichInfo: true }).filter(
    (part): part is Exclude<typeof part, string> => typeof part !== 'string',
  )
  const code = (text: string) => text.replace(/^(\s+|--[^\n]*\n?|\/\*[\s\S]*?\*\/)+/, '')
  if (statements.length < 2 || statements.some((part) => NOT_REPLAYED.test(code(part.text)))) return ''
  try {
    await client.query('begin')
    for (const part of statements) {
      try {
        await client.query(part.text)
      } catch {
        // The statement's first line of code, after leading comments and blank lines.
        const lead = part.text.length - code(part.text).length
        const line = sql.slice(0, (part.trimStart ?? part.start).position + lead).split('\n').length + offset
        return ` (line ${line})`
      }
    }
    return ''
  } catch {
    return ''
  } finally {
    await client.query('rollback').catch(() => {})
  }
}

/** The server's reason, or the missing-extension line when that is what it says. */
function reasonOf(error: unknown, server: ExtensionServer | undefined): string {
  const message = (error as Error).message
  const extension = missingExtension(message)
  return extension ? missingExtensionHint(extension, server) : message
}

/** What to do about a failed statement: the extensions option when only a superuser may create one. */
function adviceFor(message: string): string {
  const denied = /permission denied to create extension "([^"]+)"/.exec(message)?.[1]
  return denied
    ? `; migrations run as the app user: add extensions: ['${denied}'] to pgrig's options so the superuser creates it first`
    : '; fix the file and run again'
}

async function runStep(
  url: string,
  step: MigrationStep,
  cwd: string,
  label: string,
  server: ExtensionServer | undefined,
): Promise<void> {
  const { file, sql } = step
  const shown = path.relative(cwd, file) || file
  await withClient(url, async (client: pg.Client) => {
    try {
      await client.query(sql)
    } catch (error) {
      const e = error as Error & { position?: string }
      // PostgreSQL gives a position for syntax errors only; for the rest, find the statement that fails.
      const at = e.position
        ? lineOf(sql, e.position, step.lineOffset)
        : await failingStatementLine(client, sql, step.lineOffset)
      throw new PgrigError(
        'E_MIGRATION_FAILED',
        `${label} ${shown} failed${at}: ${missingExtension(e.message) ? reasonOf(e, server) : `${e.message}${adviceFor(e.message)}`}`,
        { cause: error },
      )
    }
  })
}

function runCommand(command: string, url: string, cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, {
      shell: true,
      cwd,
      env: { ...process.env, DATABASE_URL: url },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000))
    child.stdout.on('data', keep)
    child.stderr.on('data', keep)
    child.on('error', reject)
    child.on('close', (code) => {
      if (code === 0) return resolve()
      const last = output.trim().split('\n').filter(Boolean).pop() ?? 'no output'
      reject(
        new PgrigError(
          'E_MIGRATION_FAILED',
          `migration command \`${command}\` exited with ${code}: ${last.trim()}; run it by hand with DATABASE_URL set to see why`,
        ),
      )
    })
  })
}

/** Creates `extensions` as the superuser (connected to the database at `adminUrl`); a missing one is one line. */
export async function createExtensions(
  adminUrl: string,
  extensions: string[],
  server: ExtensionServer | undefined,
): Promise<void> {
  if (extensions.length === 0) return
  await withClient(adminUrl, async (client) => {
    for (const extension of extensions) {
      try {
        await client.query(`create extension if not exists ${quoteIdentifier(extension)} cascade`)
      } catch (error) {
        const missing = missingExtension((error as Error).message)
        throw new PgrigError(
          'E_MIGRATION_FAILED',
          missing
            ? `extensions: ${missingExtensionHint(missing, server)}`
            : `extensions: create extension ${extension} failed: ${(error as Error).message}; check the name in extensions`,
          { cause: error },
        )
      }
    }
  })
}

/**
 * Applies migrations then seed to the database at `url`, connected as the user who will own the
 * objects. `server` names the engine in a missing-extension line.
 */
export async function applySource(
  source: SchemaSource,
  url: string,
  server?: ExtensionServer,
): Promise<void> {
  const cwd = source.cwd ?? process.cwd()
  const { migrations, seed } = source
  if (typeof migrations === 'string') {
    for (const step of planMigrations(path.resolve(cwd, migrations)).steps) {
      await runStep(url, step, cwd, 'migration', server)
    }
  } else if (typeof migrations === 'function') {
    allowTypeScriptImports()
    try {
      await migrations(url)
    } catch (error) {
      throw new PgrigError(
        'E_MIGRATION_FAILED',
        missingExtension((error as Error).message ?? '')
          ? `migration function failed: ${reasonOf(error, server)}`
          : `migration function failed: ${(error as Error).message}; fix it and run again`,
        { cause: error },
      )
    }
  } else if (migrations) {
    await runCommand(migrations.command, url, cwd)
  }
  if (seed) {
    const file = path.resolve(cwd, seed)
    await runStep(url, { file, sql: readSeed(file), lineOffset: 0 }, cwd, 'seed', server)
  }
}
