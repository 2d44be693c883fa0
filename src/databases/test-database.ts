import { createRequire } from 'node:module'
import type pg from 'pg'
import { missingExtension, missingExtensionHint } from '../engine/extensions.js'
import type { Lease } from './clone-pool.js'

// Rows are whatever the query returns; callers narrow them with a type argument.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyRow = Record<string, any>

/** What a test gets: its own database, a connected client, and two ways to query it. */
export interface TestDatabase {
  /** App user (owner of everything in it). */
  readonly url: string
  readonly name: string
  /** Superuser, same database. */
  readonly adminUrl: string
  /**
   * The app user's client, connected on first use (queries sent before the connection is up wait
   * for it); ended after the test. A test that never touches it, nor `query`/`sql`, opens no connection.
   */
  readonly client: pg.Client
  query<R extends Record<string, unknown> = AnyRow>(text: string, params?: unknown[]): Promise<R[]>
  /** Tagged template: every `${value}` becomes a bound parameter. */
  sql<R extends Record<string, unknown> = AnyRow>(
    strings: TemplateStringsArray,
    ...values: unknown[]
  ): Promise<R[]>
}

export interface OpenTestDatabase extends TestDatabase {
  close(): Promise<void>
}

/** A TestDatabase over a client someone else connects and ends. */
export function testDatabaseOf(
  lease: Pick<Lease, 'name' | 'url' | 'adminUrl'>,
  client: pg.Client,
): TestDatabase {
  return over(
    lease,
    () => client,
    () => Promise.resolve(client),
  )
}

function over(
  lease: Pick<Lease, 'name' | 'url' | 'adminUrl'>,
  client: () => pg.Client,
  connected: () => Promise<pg.Client>,
): TestDatabase {
  const query = async <R extends Record<string, unknown>>(text: string, params?: unknown[]) => {
    try {
      return (await (await connected()).query<R>(text, params)).rows
    } catch (error) {
      // The server's error stays what it is (class, code); its message gains the way to the extension.
      const extension = error instanceof Error ? missingExtension(error.message) : undefined
      if (extension) (error as Error).message += `; ${missingExtensionHint(extension, undefined)}`
      throw error
    }
  }
  return {
    url: lease.url,
    name: lease.name,
    adminUrl: lease.adminUrl,
    get client() {
      return client()
    },
    query,
    sql: <R extends Record<string, unknown>>(strings: TemplateStringsArray, ...values: unknown[]) =>
      query<R>(
        strings.reduce((text, part, i) => `${text}$${i}${part}`),
        values,
      ),
  }
}

let nodePostgres: typeof pg | undefined

/**
 * node-postgres, loaded by the first client a worker opens: a test file that never touches
 * `db.client` / `db.query` (it connects with postgres.js or Prisma, say) does not pay its import.
 * The same module object as `import pg from 'pg'` (pg's ESM entry wraps this CommonJS one).
 */
const loadPg = () => (nodePostgres ??= createRequire(import.meta.url)('pg') as typeof pg)

function newClient(url: string): pg.Client {
  const client = new (loadPg().Client)({ connectionString: url })
  // Errors of an idle client (server restarted by a chaos test, say) surface on the next query instead.
  client.on('error', () => {})
  return client
}

export async function connectClient(url: string): Promise<pg.Client> {
  const client = newClient(url)
  await client.connect()
  return client
}

/**
 * A test's database whose client connects on first use (`db.client`, `db.query`, `db.sql`): a
 * test that connects on its own, or through the code under test, pays for one connection, not two.
 * `db.client` is handed out at once; queries sent before the connection is up wait for it.
 */
export function openTestDatabase(lease: Pick<Lease, 'name' | 'url' | 'adminUrl'>): Promise<OpenTestDatabase> {
  let client: pg.Client | undefined
  let connecting: Promise<pg.Client> | undefined
  const connected = () => {
    if (!connecting) {
      const c = (client = newClient(lease.url))
      connecting = c.connect().then(() => c)
      // Seen by whoever awaits it (db.query) or by the queries queued on the client.
      connecting.catch(() => {})
    }
    return connecting
  }
  const db = over(
    lease,
    () => {
      void connected()
      return client!
    },
    connected,
  )
  // Object.assign onto db, not a spread: a spread would read the client getter and connect.
  return Promise.resolve(
    Object.assign(db, {
      close: async () => {
        if (!connecting) return
        await connecting.catch(() => {})
        await client?.end().catch(() => {})
      },
    }),
  )
}
