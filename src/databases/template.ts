import { createHash } from 'node:crypto'
import type { ExtensionServer } from '../engine/extensions.js'
import { PgrigError } from '../errors.js'
import { withClient } from './admin.js'
import { BIRTH_OPTIONS, markBorn, templateBuildDatabaseName, templateDatabaseName } from './guard.js'
import { applySource, createExtensions, fingerprintSource, type SchemaSource } from './migrations.js'
import { userOf, withDatabase } from '../servers/libpq-url.js'
import { quoteIdentifier } from '../servers/sql-quote.js'

export interface TemplateOptions extends SchemaSource {
  /** Superuser URL: creates, renames and locks. */
  adminUrl: string
  /** The app user's URL: migrations run as this user, so objects are owned as in production. */
  appUrl: string
  /** The run building it, written into the ownership marker. */
  runId: string
  /** The engine and version, for a missing-extension line. */
  server?: ExtensionServer | undefined
  /** Server settings the template was built under; part of the key. */
  settings?: Record<string, unknown> | undefined
}

export interface Template {
  name: string
  hash: string
  /** False when an existing template with the same key was reused. */
  built: boolean
  /** What the key covers, for the line that names it: `migrations ./migrations (3 steps, sql), server 150004, format v2`. */
  key: string
  serverVersionNum: number
}

/** pgrig's template format, part of every key: v2 keys a function or command migration by its inputs' files. */
const TEMPLATE_FORMAT = 'pgrig-template-v2'

// First half of the two-int advisory lock key; the second is the template hash.
const LOCK_SPACE = 0x70677267
/**
 * How long a finished build waits for the migration's own connections to close before ending
 * them: a tool that ends its pool as it returns still has sockets closing, and terminating those
 * would reach the user's process as an unhandled 57P01.
 */
const CLOSE_GRACE_MS = 2_000
const CLOSE_POLL_MS = 20

async function exists(client: import('pg').Client, name: string): Promise<boolean> {
  const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name])
  return (rowCount ?? 0) > 0
}

/**
 * The template database for this schema, built once per key and reused by later runs on the same
 * server. Builders of the same key wait on an advisory lock; the one that builds does it under a
 * temporary name and renames it into place, so a half-built template is never cloned.
 */
export async function ensureTemplate(options: TemplateOptions): Promise<Template> {
  return withClient(options.adminUrl, async (admin) => {
    const facts = (
      await admin.query<{ v: string; enc: string }>(
        "select current_setting('server_version_num') as v, pg_encoding_to_char(encoding) as enc from pg_database where datname = 'template1'",
      )
    ).rows[0]
    const serverVersionNum = Number(facts?.v)
    const owner = userOf(options.appUrl)
    const hash = createHash('sha256')
    hash.update(`${TEMPLATE_FORMAT}\nserver:${serverVersionNum}\nencoding:${facts?.enc}\nowner:${owner}\n`)
    hash.update(`settings:${JSON.stringify(Object.entries(options.settings ?? {}).sort())}\n`)
    const covers = await fingerprintSource(options, hash)
    const digest = hash.digest('hex')
    const key = [...covers, `server ${serverVersionNum}`, `format ${TEMPLATE_FORMAT}`].join(', ')
    const name = templateDatabaseName(digest.slice(0, 16))
    if (await exists(admin, name)) return { name, hash: digest, built: false, serverVersionNum, key }

    const lockKey = Number.parseInt(digest.slice(0, 8), 16) | 0
    await admin.query('select pg_advisory_lock($1, $2)', [LOCK_SPACE, lockKey])
    try {
      if (await exists(admin, name)) return { name, hash: digest, built: false, serverVersionNum, key }
      const building = templateBuildDatabaseName(digest.slice(0, 16), options.runId)
      await admin.query(`drop database if exists ${quoteIdentifier(building)} with (force)`)
      await admin.query(
        `create database ${quoteIdentifier(building)} owner ${quoteIdentifier(owner)} ${BIRTH_OPTIONS}`,
      )
      await markBorn(admin, building, { runId: options.runId, kind: 'template' })
      try {
        await createExtensions(
          withDatabase(options.adminUrl, building),
          options.extensions ?? [],
          options.server,
        )
        await applySource(options, withDatabase(options.appUrl, building), options.server)
        // A migration tool may leave connections behind; a template must have none to be cloned.
        await closeConnections(admin, building)
        await admin.query(`alter database ${quoteIdentifier(building)} rename to ${quoteIdentifier(name)}`)
        // Stray connections to a template make every clone fail, so it accepts none.
        await admin.query(`alter database ${quoteIdentifier(name)} with allow_connections false`)
      } catch (error) {
        await admin.query(`drop database if exists ${quoteIdentifier(building)} with (force)`).catch(() => {})
        throw error
      }
      return { name, hash: digest, built: true, serverVersionNum, key }
    } finally {
      await admin.query('select pg_advisory_unlock($1, $2)', [LOCK_SPACE, lockKey]).catch(() => {})
    }
  }).catch((error: unknown) => {
    if (error instanceof PgrigError) throw error
    throw new PgrigError(
      'E_MIGRATION_FAILED',
      `could not build the template database: ${(error as Error).message}`,
      { cause: error },
    )
  })
}

/** Waits up to CLOSE_GRACE_MS for every connection to `database` to go, then ends the ones left. */
async function closeConnections(admin: import('pg').Client, database: string): Promise<void> {
  const deadline = performance.now() + CLOSE_GRACE_MS
  const open = async () =>
    (await admin.query('select 1 from pg_stat_activity where datname = $1', [database])).rowCount ?? 0
  while ((await open()) > 0) {
    if (performance.now() >= deadline) {
      await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [
        database,
      ])
      return
    }
    await new Promise((resolve) => setTimeout(resolve, CLOSE_POLL_MS))
  }
}
