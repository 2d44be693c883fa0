import type { ChaosProxy } from '../../chaos/proxy/proxy.js'
import { BrokerClient } from '../../databases/broker-client.js'
import type { Lease } from '../../databases/clone-pool.js'
import {
  isolationStrategy,
  type IsolationStrategy,
  type WorkerIsolation,
} from '../../databases/modes/index.js'
import type { TestDatabase } from '../../databases/test-database.js'
import { pointEnvAt, replaceEnv } from './env.js'
import type { Forensics } from './forensics.js'
import { oneLine } from './one-line.js'
import type { PgrigProvided, ProvidedService } from './provided.js'
import { startTestProxy, type ProxyOption } from './proxy.js'
import { concurrentTestsRefused, usage, type RunnerInfo } from './runner-info.js'

export type { RunnerInfo } from './runner-info.js'

export interface TestRedis {
  /** `redis://host:port/<index>`: this worker's logical database, flushed before each test. */
  url: string
  index: number
}

/** One test between begin() and end(). */
export interface ActiveTest {
  name: string
  db: TestDatabase
  /** The database the test got (transaction mode: its url is the transaction endpoint). */
  lease: Lease
  /** Milliseconds from asking for the database to holding it (a mode that gives each test its own database). */
  provisionMs?: number
  proxy?: ChaosProxy
  redis?: TestRedis
  /** The run's services by name (`services.minio.env.S3_ENDPOINT_URL`, `.port`, `.dir`). */
  services: Record<string, ProvidedService>
  /** Undoes what begin() did to the database and the environment. */
  finish: () => Promise<void>
}

export interface BeginOptions {
  /** A fresh fault-injection proxy in front of the test's database. */
  proxy?: ProxyOption | undefined
  /** Flush the worker's Redis database and hand it to the test. */
  redis?: boolean
  /** The runner says this test runs side by side with others of its file (refused). */
  concurrent?: boolean
}

/**
 * The test-process half of a run, the same for every runner: begin a test (its database from the
 * isolation mode, DATABASE_URL/PG* pointing at it, the proxy and Redis when asked), end it
 * (restore, release or keep, forensics when it failed).
 */
export class TestLifecycle {
  private readonly broker: BrokerClient
  private active: string | undefined
  private readonly restoreServiceEnv: () => void
  /** The run's isolation mode. */
  readonly mode: IsolationStrategy
  private worker: WorkerIsolation | undefined

  constructor(
    readonly provided: PgrigProvided,
    readonly info: RunnerInfo,
  ) {
    this.broker = new BrokerClient(provided.socketPath)
    this.mode = isolationStrategy(provided.isolation)
    // The services' variables hold for the whole process: code under test reads S3_ENDPOINT_URL itself.
    this.restoreServiceEnv = replaceEnv(
      Object.assign({}, ...Object.values(this.services).map((service) => service.env)) as Record<
        string,
        string
      >,
    )
  }

  /** The run's services by name (empty when the run has none). */
  get services(): Record<string, ProvidedService> {
    return this.provided.services ?? {}
  }

  /** Refuses a second test while one runs in this process: both would share process.env. */
  private claim(name: string, concurrent: boolean): void {
    if (concurrent) {
      throw concurrentTestsRefused(
        `${this.info.name} runs "${name}" concurrently with other tests of its file`,
        this.info.concurrencyFix,
      )
    }
    if (this.active !== undefined) {
      throw concurrentTestsRefused(
        `${this.info.name} ran "${name}" while "${this.active}" still runs in the same process`,
        this.info.concurrencyFix,
      )
    }
    this.active = name
  }

  async begin(name: string, options: BeginOptions = {}): Promise<ActiveTest> {
    this.claim(name, options.concurrent === true)
    const undo: (() => Promise<void> | void)[] = [() => void (this.active = undefined)]
    const finish = async () => {
      // Last done, first undone; every step runs even when one fails, the first error wins.
      let failure: unknown
      for (const step of undo.splice(0).reverse()) {
        try {
          await step()
        } catch (error) {
          failure ??= error
        }
      }
      if (failure !== undefined) throw oneLine(failure)
    }
    try {
      const asked = performance.now()
      this.worker ??= this.mode.openWorker({
        broker: this.broker,
        slot: this.info.slot,
        runId: this.provided.runId,
        exclude: this.provided.exclude,
      })
      const checkout = await this.worker.beforeEach()
      const { db, lease } = checkout
      undo.push(() => checkout.afterEach({ keep: this.keeping.has(lease.name) }))
      const active: ActiveTest = { name, db, lease, finish, services: this.services }
      if (this.mode.databasePerTest) active.provisionMs = Math.round((performance.now() - asked) * 100) / 100
      undo.push(pointEnvAt(lease.url))
      if (options.proxy) {
        const proxy = await startTestProxy(db.url, options.proxy)
        undo.push(() => proxy.close())
        active.proxy = proxy
      }
      if (options.redis) active.redis = await this.redis()
      return active
    } catch (error) {
      await finish().catch(() => {})
      throw oneLine(error)
    }
  }

  private readonly keeping = new Set<string>()

  /**
   * Ends the test: closes the proxy, puts process.env back, rolls back or hands the database
   * back (kept when it failed and keepFailed is on). For a failed test, what to show.
   */
  async end(active: ActiveTest, outcome: { failed: boolean }): Promise<Forensics | undefined> {
    const keep = outcome.failed && this.provided.keepFailed && this.mode.keepsFailedDatabase
    if (keep) this.keeping.add(active.lease.name)
    try {
      await active.finish()
    } finally {
      this.keeping.delete(active.lease.name)
    }
    if (!outcome.failed) return undefined
    // Loaded by the first failure: a passing file never reads a server log.
    const { failureForensics } = await import('./forensics.js')
    return failureForensics(active.lease, active.name, keep)
  }

  /** This worker's Redis database, flushed. */
  async redis(): Promise<TestRedis> {
    if (!this.provided.redis)
      throw usage(`Redis is off for this run: turn it on with ${this.info.hints.redis}`)
    const { host, port, databases } = this.provided.redis
    const index = (Number(this.info.slot) % (databases - 1)) + 1
    await this.broker.post('/redis/flush', { index })
    return { url: `redis://${host.includes(':') ? `[${host}]` : host}:${port}/${index}`, index }
  }

  /** Ends this process's worker database (truncate, transaction) and its broker connection. */
  async close(): Promise<void> {
    const worker = this.worker
    this.worker = undefined
    try {
      await worker?.close()
    } finally {
      this.broker.close()
      this.restoreServiceEnv()
    }
  }
}
