import type { Lease } from '../databases/clone-pool.js'
import { openTestDatabase, type OpenTestDatabase, type TestDatabase } from '../databases/test-database.js'
import { PgrigError } from '../errors.js'

/**
 * For runners without fixtures (node:test, Jest): one handle per file whose properties point at
 * the current test's database, swapped in a beforeEach and released in an afterEach.
 */
export class CurrentDatabase implements TestDatabase {
  private current: { db: OpenTestDatabase; lease: Lease } | undefined

  async open(lease: Lease): Promise<void> {
    this.current = { db: await openTestDatabase(lease), lease }
  }

  /** Ends the client and returns the lease to hand back. */
  async close(): Promise<Lease | undefined> {
    const current = this.current
    this.current = undefined
    await current?.db.close()
    return current?.lease
  }

  private get db(): OpenTestDatabase {
    if (!this.current) {
      throw new PgrigError(
        'E_USAGE',
        'the pgrig database is only available inside a test (between beforeEach and afterEach)',
      )
    }
    return this.current.db
  }

  get url(): string {
    return this.db.url
  }
  get name(): string {
    return this.db.name
  }
  get adminUrl(): string {
    return this.db.adminUrl
  }
  get client(): TestDatabase['client'] {
    return this.db.client
  }
  query: TestDatabase['query'] = (text, params) => this.db.query(text, params)
  sql: TestDatabase['sql'] = (strings, ...values) => this.db.sql(strings, ...values)
}
