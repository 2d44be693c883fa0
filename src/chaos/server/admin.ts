import pg from 'pg'
import { editLibpqUrl, parseLibpqUrl } from '../../servers/libpq-url.js'

/**
 * What a server fault needs: a superuser URL. A `StartedServer` is one; so is
 * `{ superuser: { url } }` built by hand for a server pgrig did not start.
 */
export type AdminTarget = { superuser: { url: string } } | string

/** A StartedServer's app database: its superuser URL names `postgres`, but faults are meant for the app's. */
function appDatabase(target: AdminTarget): string | undefined {
  if (typeof target === 'string' || !('database' in target)) return undefined
  return typeof target.database === 'string' ? target.database : undefined
}

export function superuserUrl(target: AdminTarget, database = appDatabase(target)): string {
  return editLibpqUrl(typeof target === 'string' ? target : target.superuser.url, (url) => {
    if (database !== undefined) url.pathname = `/${encodeURIComponent(database)}`
  })
}

/** The database a fault acts in by default: a server's app database, else the URL's own. */
export function databaseOf(target: AdminTarget): string {
  return decodeURIComponent(parseLibpqUrl(superuserUrl(target)).pathname.slice(1))
}

/** A superuser session named so that pgrig's own faults never pick it as a victim. */
export async function adminClient(target: AdminTarget, database?: string): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: superuserUrl(target, database),
    application_name: ADMIN_APPLICATION_NAME,
  })
  // A terminated or crashed admin session must not become an unhandled 'error' event.
  client.on('error', () => {})
  await client.connect()
  return client
}

export const ADMIN_APPLICATION_NAME = 'pgrig-chaos'

export async function withAdmin<T>(
  target: AdminTarget,
  work: (client: pg.Client) => Promise<T>,
  database?: string,
): Promise<T> {
  const client = await adminClient(target, database)
  try {
    return await work(client)
  } finally {
    await client.end().catch(() => {})
  }
}
