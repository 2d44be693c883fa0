import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import type pg from 'pg'
import { PgrigError } from '../errors.js'
import { withClient } from './admin.js'
import { planMigrations, type MigrationStep } from './migration-layouts.js'

/**
 * Where a schema comes from: a folder of migrations as a tool lays them out (Prisma, Drizzle Kit,
 * golang-migrate, dbmate, Flyway, or numbered `.sql` files; see migration-layouts.ts), a function given
 * the database URL, or a shell command run with `DATABASE_URL` set (prisma, node-pg-migrate…).
 * A command's own files are invisible to pgrig: list them in `inputs` so a change rebuilds the template.
 */
export type Migrations = string | ((url: string) => Promise<void>) | { command: string; inputs?: string[] }

export interface SchemaSource {
  migrations?: Migrations | undefined
  /** A `.sql` file run after the migrations. */
  seed?: string | undefined
  /** Folder that relative paths are read from; the process's cwd by default. */
  cwd?: string | undefined
}

function readSeed(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch {
    throw new PgrigError('E_CONFIG_INVALID', `seed file ${file} cannot be read; check the path`)
  }
}

function hashInputs(hash: ReturnType<typeof createHash>, inputs: string[], cwd: string): void {
  for (const input of inputs) {
    const full = path.resolve(cwd, input)
    const stat = fs.statSync(full, { throwIfNoEntry: false })
    if (!stat) {
      hash.update(`missing:${input}\n`)
    } else if (stat.isDirectory()) {
      const entries = fs.readdirSync(full, { recursive: true, encoding: 'utf8' }).sort()
      for (const entry of entries) {
        const file = path.join(full, entry)
        if (fs.statSync(file).isFile()) hash.update(`${input}/${entry}\n`).update(fs.readFileSync(file))
      }
    } else {
      hash.update(`${input}\n`).update(fs.readFileSync(full))
    }
  }
}

/** A hash of everything in the source that shapes the schema; the caller adds server facts. */
export function fingerprintSource(source: SchemaSource, hash: ReturnType<typeof createHash>): void {
  const cwd = source.cwd ?? process.cwd()
  const { migrations, seed } = source
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
  } else if (typeof migrations === 'function') {
    hash.update(`fn:${migrations.toString()}\n`)
  } else if (migrations) {
    hash.update(`command:${migrations.command}\n`)
    hashInputs(hash, migrations.inputs ?? [], cwd)
  }
  if (seed) hash.update('seed\n').update(readSeed(path.resolve(cwd, seed)))
}

function lineOf(sql: string, position: string | undefined, offset: number): string {
  if (!position) return ''
  const line = sql.slice(0, Number(position)).split('\n').length + offset
  return ` (line ${line})`
}

async function runStep(url: string, step: MigrationStep, cwd: string, label: string): Promise<void> {
  const { file, sql } = step
  const shown = path.relative(cwd, file) || file
  await withClient(url, async (client: pg.Client) => {
    try {
      await client.query(sql)
    } catch (error) {
      const e = error as Error & { position?: string }
      throw new PgrigError(
        'E_MIGRATION_FAILED',
        `${label} ${shown} failed${lineOf(sql, e.position, step.lineOffset)}: ${e.message}; fix the file and run again`,
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

/** Applies migrations then seed to the database at `url`, connected as the user who will own the objects. */
export async function applySource(source: SchemaSource, url: string): Promise<void> {
  const cwd = source.cwd ?? process.cwd()
  const { migrations, seed } = source
  if (typeof migrations === 'string') {
    for (const step of planMigrations(path.resolve(cwd, migrations)).steps) {
      await runStep(url, step, cwd, 'migration')
    }
  } else if (typeof migrations === 'function') {
    try {
      await migrations(url)
    } catch (error) {
      throw new PgrigError(
        'E_MIGRATION_FAILED',
        `migration function failed: ${(error as Error).message}; fix it and run again`,
        { cause: error },
      )
    }
  } else if (migrations) {
    await runCommand(migrations.command, url, cwd)
  }
  if (seed) {
    const file = path.resolve(cwd, seed)
    await runStep(url, { file, sql: readSeed(file), lineOffset: 0 }, cwd, 'seed')
  }
}
