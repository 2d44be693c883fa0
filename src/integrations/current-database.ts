import type { ChaosProxy, ProxyOptions } from '../chaos/proxy/proxy.js'
import type { Lease } from '../databases/clone-pool.js'
import { openTestDatabase, type OpenTestDatabase, type TestDatabase } from '../databases/test-database.js'
import { PgrigError } from '../errors.js'
import { oneLine } from './shared.js'

/**
 * `true`, or how the proxy is made (everything but `upstream`, as Vitest's `proxyOptions`), e.g.
 * `{ tls: 'terminate' }` for statement faults over TLS.
 */
export type ProxyOption = boolean | Omit<ProxyOptions, 'upstream'>

export interface CurrentDatabaseOptions {
  /** Put a fresh fault-injection proxy in front of every test's database (`db.proxy`). */
  proxy?: ProxyOption | undefined
  /** How a user of this runner turns the proxy on, e.g. `usePgrig({ proxy: true })`. */
  proxyHint: string
}

/** The runner prints it as its one line, without a stack into pgrig. */
const usage = (message: string) => oneLine(new PgrigError('E_USAGE', message))

const OUTSIDE_TEST = 'is only available inside a test (between beforeEach and afterEach)'

/**
 * For runners without fixtures (node:test, Jest): one handle per file whose properties point at
 * the current test's database, swapped in a beforeEach and released in an afterEach.
 */
export class CurrentDatabase implements TestDatabase {
  private current: { db: OpenTestDatabase; lease: Lease; proxy?: ChaosProxy } | undefined

  constructor(private readonly options: CurrentDatabaseOptions) {}

  async open(lease: Lease): Promise<void> {
    const current: { db: OpenTestDatabase; lease: Lease; proxy?: ChaosProxy } = {
      db: await openTestDatabase(lease),
      lease,
    }
    // Set before the proxy starts, so close() hands the lease back even if the proxy never listens.
    this.current = current
    // A new proxy per test: toxics and statement faults of one test never reach the next.
    const { proxy } = this.options
    if (proxy) {
      // Loaded only when asked for: every test file pays for what it imports.
      const { createProxy } = await import('../chaos/proxy/proxy.js')
      current.proxy = await createProxy({ ...(proxy === true ? {} : proxy), upstream: current.db.url })
    }
  }

  /** Closes the proxy (dropping its connections), ends the client, and returns the lease to hand back. */
  async close(): Promise<Lease | undefined> {
    const current = this.current
    this.current = undefined
    try {
      await current?.proxy?.close()
    } finally {
      await current?.db.close()
    }
    return current?.lease
  }

  private get db(): OpenTestDatabase {
    if (!this.current) throw usage(`the pgrig database ${OUTSIDE_TEST}`)
    return this.current.db
  }

  /**
   * A fault-injection proxy in front of this test's database: `db.proxy.url` reaches the same
   * database through it (add toxics or statement faults to it); closed after the test.
   */
  get proxy(): ChaosProxy {
    if (!this.options.proxy) {
      throw usage(`db.proxy is off for this file: turn it on with ${this.options.proxyHint}`)
    }
    const proxy = this.current?.proxy
    if (!proxy) throw usage(`the pgrig proxy ${OUTSIDE_TEST}`)
    return proxy
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
