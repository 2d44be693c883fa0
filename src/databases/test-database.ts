import pg from 'pg'
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
  /** Connected as the app user; ended after the test. */
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
  const query = async <R extends Record<string, unknown>>(text: string, params?: unknown[]) => {
    try {
      return (await client.query<R>(text, params)).rows
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
    client,
    query,
    sql: <R extends Record<string, unknown>>(strings: TemplateStringsArray, ...values: unknown[]) =>
      query<R>(
        strings.reduce((text, part, i) => `${text}$${i}${part}`),
        values,
      ),
  }
}

export async function connectClient(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url })
  // Errors of an idle client (server restarted by a chaos test, say) surface on the next query instead.
  client.on('error', () => {})
  await client.connect()
  return client
}

export async function openTestDatabase(
  lease: Pick<Lease, 'name' | 'url' | 'adminUrl'>,
): Promise<OpenTestDatabase> {
  const client = await connectClient(lease.url)
  return { ...testDatabaseOf(lease, client), close: () => client.end().catch(() => {}) }
}
