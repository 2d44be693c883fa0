import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { missingExtension, missingExtensionHint, type ExtensionServer } from '../engine/extensions.js'
import { findPsql } from '../engine/system.js'
import type { InitSqlRole } from '../config/schema.js'
import { PgrigError } from '../errors.js'

const run = promisify(execFile)

const RUNNABLE = ['.sql', '.sh']

/**
 * Expands the configured paths (files, or folders as in the postgres image's
 * /docker-entrypoint-initdb.d) into the scripts to run, in order. Called before any server starts,
 * so a wrong path costs nothing.
 */
export function collectInitScripts(paths: string[]): string[] {
  const scripts: string[] = []
  for (const entry of paths) {
    let stat: fs.Stats
    try {
      stat = fs.statSync(entry)
      if (stat.isFile()) fs.accessSync(entry, fs.constants.R_OK)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unreadable'
      throw new PgrigError(
        'E_INIT_SCRIPT',
        `init SQL ${entry} cannot be read (${code}); check the path in initSql / --init-sql`,
      )
    }
    if (stat.isDirectory()) {
      const names = fs
        .readdirSync(entry)
        .filter((name) => RUNNABLE.includes(path.extname(name)))
        .sort()
      scripts.push(...names.map((name) => path.join(entry, name)))
    } else if (RUNNABLE.includes(path.extname(entry))) {
      scripts.push(entry)
    } else {
      throw new PgrigError(
        'E_INIT_SCRIPT',
        `init script ${entry} is neither .sql nor .sh; pgrig runs .sql files with psql and .sh files with sh`,
      )
    }
  }
  return scripts
}

export interface InitTarget {
  socketDir: string
  port: number
  superuser: { user: string; password: string }
  /** The app user, who runs the scripts unless `as` is `superuser`. */
  app: { user: string; password: string }
  as: InitSqlRole
  /** The engine and version, for a missing-extension line. */
  server?: ExtensionServer
  database: string
  /** The app's own connection, for scripts that want it. */
  env: Record<string, string>
}

/** psql meta-commands (`\c`, `\set`, `\i` …) at the start of a line need psql itself. */
function usesMetaCommands(sql: string): boolean {
  return /^\s*\\[a-zA-Z!]/m.test(sql)
}

/** A reason that means the script needed the superuser, with what to set. */
function superuserHint(reason: string, target: InitTarget): string {
  if (target.as !== 'app' || !/permission denied|must be (superuser|owner)|only superuser/i.test(reason))
    return ''
  return `; init scripts run as the app user ${target.app.user} so that it owns what they create: set initSqlAs: 'superuser' (--init-sql-as superuser) for scripts that need the superuser`
}

/**
 * Runs the scripts as the postgres image does with /docker-entrypoint-initdb.d, connected as the app
 * user by default (so the app can use what they create), as the superuser with `as: 'superuser'`.
 * `POSTGRES_USER` / `POSTGRES_PASSWORD` name the superuser either way.
 */
export async function runInitScripts(scripts: string[], target: InitTarget, label: string): Promise<void> {
  const role = target.as === 'superuser' ? target.superuser : target.app
  const env = {
    ...process.env,
    ...target.env,
    PGHOST: target.socketDir,
    PGPORT: String(target.port),
    PGUSER: role.user,
    PGPASSWORD: role.password,
    PGDATABASE: target.database,
    POSTGRES_USER: target.superuser.user,
    POSTGRES_PASSWORD: target.superuser.password,
    POSTGRES_DB: target.database,
  }
  for (const script of scripts) {
    try {
      if (script.endsWith('.sh')) {
        await run('sh', [script], { env, cwd: path.dirname(script) })
      } else {
        await runSqlFile(script, target, role.user, env)
      }
    } catch (error) {
      if (error instanceof PgrigError) throw error
      const stderr = String((error as { stderr?: string }).stderr ?? '').trim()
      const lines = stderr.split('\n').filter((line) => line.trim())
      // One line: the server's error, else what the script said last, else how it ended.
      const exit = (error as { code?: unknown }).code
      const failure =
        lines.find((line) => /ERROR|FATAL|error/.test(line)) ??
        (lines.length ? `${lines[lines.length - 1]!.trim()} (exit code ${String(exit)})` : undefined) ??
        (typeof exit === 'number' ? `it exited with code ${exit}` : (error as Error).message.split('\n')[0]!)
      const extension = missingExtension(failure)
      const reason = extension ? missingExtensionHint(extension, target.server) : failure
      throw new PgrigError(
        'E_INIT_SCRIPT',
        `init script ${script} failed on server ${label}: ${reason.trim()}${superuserHint(reason, target)}`,
        {
          cause: error,
        },
      )
    }
  }
}

async function runSqlFile(
  file: string,
  target: InitTarget,
  user: string,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const psql = findPsql()
  if (psql) {
    await run(psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-f', file], { env, cwd: path.dirname(file) })
    return
  }
  const sql = fs.readFileSync(file, 'utf8')
  if (usesMetaCommands(sql)) {
    throw new PgrigError(
      'E_INIT_SCRIPT',
      `init SQL ${file} uses psql meta-commands (such as \\c) and no psql was found; install the PostgreSQL client (apt-get install postgresql-client) or remove the meta-commands`,
    )
  }
  const client = new pg.Client({
    host: target.socketDir,
    port: target.port,
    user,
    database: target.database,
  })
  // A server that dies under the script fails its query; the idle event must not crash the process.
  client.on('error', () => {})
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}
