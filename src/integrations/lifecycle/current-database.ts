import type { ChaosProxy } from '../../chaos/proxy/proxy.js'
import type { TestDatabase } from '../../databases/test-database.js'
import { printForensics } from './forensics.js'
import type { ProxyOption } from './proxy.js'
import type { ProvidedService } from './provided.js'
import { usage, type RunnerInfo } from './runner-info.js'
import type { ActiveTest, TestLifecycle, TestRedis } from './test-lifecycle.js'

const OUTSIDE_TEST = 'is only available inside a test (between beforeEach and afterEach)'

/**
 * For runners without fixtures (node:test, Jest): one handle per file whose properties point at
 * the current test's database, set in a beforeEach and cleared in an afterEach.
 */
export class CurrentDatabase implements TestDatabase {
  /** The test that runs now; set and cleared by the runner's adapter. */
  current: ActiveTest | undefined

  constructor(
    private readonly info: RunnerInfo,
    /** A fresh proxy in front of every test's database of this file (`db.proxy`), with these options. */
    private readonly proxyOption?: ProxyOption,
  ) {}

  /**
   * The runner's beforeEach (node:test, Jest): begins the test, this handle points at its
   * database, and so do DATABASE_URL and PG* until its afterEach.
   */
  async beforeEach(lifecycle: TestLifecycle, name: string): Promise<void> {
    this.current = await lifecycle.begin(name, {
      proxy: this.proxyOption,
      redis: lifecycle.provided.redis !== undefined,
    })
  }

  /** The runner's afterEach: ends the test, and prints what to look at when it failed. */
  async afterEach(lifecycle: TestLifecycle | undefined, outcome: { failed: boolean }): Promise<void> {
    const active = this.current
    this.current = undefined
    if (!active || !lifecycle) return
    const forensics = await lifecycle.end(active, outcome)
    if (forensics) printForensics(active.name, forensics)
  }

  private get db(): TestDatabase {
    if (!this.current) throw usage(`the pgrig database ${OUTSIDE_TEST}`)
    return this.current.db
  }

  /**
   * A fault-injection proxy in front of this test's database: `db.proxy.url` reaches the same
   * database through it (add toxics or statement faults to it); closed after the test.
   */
  get proxy(): ChaosProxy {
    if (!this.proxyOption) {
      throw usage(`db.proxy is off for this file: turn it on with ${this.info.hints.proxy}`)
    }
    const proxy = this.current?.proxy
    if (!proxy) throw usage(`the pgrig proxy ${OUTSIDE_TEST}`)
    return proxy
  }

  /** This worker's Redis database (`redis.url`), flushed before each test. */
  get redis(): TestRedis {
    if (this.current && !this.current.redis) {
      throw usage(`db.redis is off for this run: turn it on with ${this.info.hints.redis}`)
    }
    const redis = this.current?.redis
    if (!redis) throw usage(`pgrig's Redis ${OUTSIDE_TEST}`)
    return redis
  }

  /** The run's services by name (`db.services.minio.env.S3_ENDPOINT_URL`, `.port`, `.dir`). */
  get services(): Record<string, ProvidedService> {
    const current = this.current
    if (!current) throw usage(`pgrig's services ${OUTSIDE_TEST}`)
    return current.services
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
