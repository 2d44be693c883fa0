import { withClient } from '../databases/admin.js'
import { createExtensions } from '../databases/migrations.js'
import { withDatabase } from '../servers/libpq-url.js'
import { ownerMarker } from '../databases/guard.js'
import { quoteIdentifier, quoteLiteral } from '../servers/sql-quote.js'

/**
 * The serving manager's statements on the server: a template's build database is created empty
 * for the client to migrate, renamed to its final name when finalized, and dropped when discarded.
 */

export interface TemplateNames {
  /** The database the client migrates (carries the run id). */
  buildName: string
  /** The finalized template, named by the hash only, so a later run on the server reuses it. */
  finalName: string
}

/**
 * A new, empty build database owned by `owner` and marked as this run's template; or, when a
 * template of the same hash was finalized by an earlier run, nothing: says whether it was reused.
 */
export async function createBuildDatabase(
  adminUrl: string,
  { buildName, finalName }: TemplateNames,
  owner: string,
  runId: string,
  extensions: string[] = [],
): Promise<'reused' | 'created'> {
  const made = await withClient(adminUrl, async (admin) => {
    // A template finalized by an earlier run on this server (same hash, same schema) is used as it is.
    const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [finalName])
    if ((rowCount ?? 0) > 0) return 'reused'
    await admin.query(`drop database if exists ${quoteIdentifier(buildName)} with (force)`)
    await admin.query(`create database ${quoteIdentifier(buildName)} owner ${quoteIdentifier(owner)}`)
    await admin.query(
      `comment on database ${quoteIdentifier(buildName)} is ${quoteLiteral(ownerMarker({ runId, kind: 'template' }))}`,
    )
    return 'created' as const
  })
  // As the superuser, so untrusted extensions (postgres_fdw) work though the app role migrates.
  if (made === 'created') await createExtensions(withDatabase(adminUrl, buildName), extensions, undefined)
  return made
}

/** The client's migrations are done: the build database becomes the template clones are made from. */
export async function finalizeBuildDatabase(
  adminUrl: string,
  { buildName, finalName }: TemplateNames,
): Promise<void> {
  await withClient(adminUrl, async (admin) => {
    // A migration tool may leave connections behind; a template must have none to be cloned.
    await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [
      buildName,
    ])
    const { rowCount } = await admin.query('select 1 from pg_database where datname = $1', [finalName])
    if ((rowCount ?? 0) > 0) {
      // Another run sharing the server finalized the same hash first: theirs is as good as ours.
      await admin.query(`drop database if exists ${quoteIdentifier(buildName)} with (force)`)
    } else {
      await admin.query(
        `alter database ${quoteIdentifier(buildName)} rename to ${quoteIdentifier(finalName)}`,
      )
      await admin.query(`alter database ${quoteIdentifier(finalName)} with allow_connections false`)
    }
  })
}

/** Drops these databases, terminating whoever is still connected to them. */
export async function dropDatabases(adminUrl: string, names: string[]): Promise<void> {
  await withClient(adminUrl, async (admin) => {
    for (const name of names)
      await admin.query(`drop database if exists ${quoteIdentifier(name)} with (force)`)
  })
}

/** PostgreSQL's server_version_num of the server. */
export async function readServerVersionNum(adminUrl: string): Promise<number> {
  return withClient(adminUrl, async (admin) =>
    Number(
      (await admin.query<{ v: string }>("select current_setting('server_version_num') as v")).rows[0]?.v,
    ),
  )
}
