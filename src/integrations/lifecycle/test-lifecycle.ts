import type { ChaosProxy } from '../../chaos/proxy/proxy.js'
import { BrokerClient } from '../../databases/broker-client.js'
import type { Lease } from '../../databases/clone-pool.js'
import { openTestDatabase, testDatabaseOf, type TestDatabase } from '../../databases/test-database.js'
import { PgrigError } from '../../errors.js'
import { pointEnvAt, replaceEnv } from './env.js'
import type { Forensics } from './forensics.js'
import { oneLine } from './one-line.js'
import type { PgrigProvided, ProvidedService, RunnerName } from './provided.js'
import { startTestProxy, type ProxyOption } from './proxy.js'
import { closeWorkerDatabase, workerDatabase } from './worker-database.js'

export interface TestRedis {
  /** `redis://host:port/<index>`: this worker's logical database, flushed before each test. */
  url: string
  index: number
}

export interface RunnerInfo {
  runner: RunnerName
  /** The worker slot: reused by later workers, never by two at once (VITEST_POOL_ID, JEST_WORKER_ID). */
  slot: string
  /** What a user of this runner does instead of running tests concurrently in one process. */
  concurrencyFix: string
}

/** One test between begin() and end(). */
export interface ActiveTest {
  name: string
  db: TestDatabase
  /** The database the test got (transaction mode: its url is the transaction endpoint). */
  lease: Lease
  /** Milliseconds from asking for the database to holding it. */
  provisionMs: number
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
}

const usage = (message: string) => oneLine(new PgrigError('E_USAGE', message))

/**
 * The test-process half of a run, the same for every runner: begin a test (its database per
 * isolation mode, DATABASE_URL/PG* pointing at it, the proxy and Redis when asked), end it
 * (restore, release or keep, forensics when it failed).
 */
export class TestLifecycle {
  private readonly broker: BrokerClient
  private active: string | undefined
  private readonly restoreServiceEnv: () => void

  constructor(
    readonly provided: PgrigProvided,
    private readonly info: RunnerInfo,
  ) {
    this.broker = new BrokerClient(provided.socketPath)
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
  private claim(name: string): void {
    if (this.active !== undefined) {
      throw usage(
        `${this.info.runner} ran "${name}" while "${this.active}" still runs in the same process; pgrig points process.env (DATABASE_URL, PG*) at one test's database at a time, so tests using it cannot run concurrently in one process: ${this.info.concurrencyFix}`,
      )
    }
    this.active = name
  }

  async begin(name: string, options: BeginOptions = {}): Promise<ActiveTest> {
    this.claim(name)
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
      const { db, lease } = await this.database(undo)
      const provisionMs = Math.round((performance.now() - asked) * 100) / 100
      undo.push(pointEnvAt(lease.url))
      const active: ActiveTest = { name, db, lease, provisionMs, finish, services: this.services }
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

  /** The test's database, and how to undo getting it, pushed on `undo`. */
  private async database(undo: (() => Promise<void> | void)[]): Promise<{ db: TestDatabase; lease: Lease }> {
    if (this.provided.isolation === 'database') {
      const lease = await this.broker.acquire()
      undo.push(() => this.broker.release(lease.name, { keep: this.keeping.has(lease.name) }))
      const db = await openTestDatabase(lease)
      undo.push(() => db.close())
      return { db, lease }
    }
    const worker = await workerDatabase(this.broker, this.provided, this.info.slot)
    if (worker.truncate) await worker.truncate.reset()
    const { transaction } = worker
    if (transaction) {
      await transaction.beginTest()
      undo.push(async () => void (await transaction.endTest()))
    }
    return { db: testDatabaseOf(worker.lease, worker.client), lease: worker.lease }
  }

  private readonly keeping = new Set<string>()

  /**
   * Ends the test: closes the proxy, puts process.env back, rolls back or hands the database
   * back (kept when it failed and keepFailed is on). For a failed test, what to show.
   */
  async end(active: ActiveTest, outcome: { failed: boolean }): Promise<Forensics | undefined> {
    const keep = outcome.failed && this.provided.keepFailed && this.provided.isolation === 'database'
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
    if (!this.provided.redis) throw usage(`Redis is off for this run: ${this.redisHint()}`)
    const { host, port, databases } = this.provided.redis
    const index = (Number(this.info.slot) % (databases - 1)) + 1
    await this.broker.post('/redis/flush', { index })
    return { url: `redis://${host.includes(':') ? `[${host}]` : host}:${port}/${index}`, index }
  }

  private redisHint(): string {
    if (this.info.runner === 'Vitest') return 'pass redis: true to pgrig() in vitest.config'
    if (this.info.runner === 'Jest') return "pass redis: true to globalSetup() from 'pgrig/jest'"
    return 'pass redis: true to usePgrig()'
  }

  /** Ends this process's worker database (truncate, transaction) and its broker connection. */
  async close(): Promise<void> {
    try {
      await closeWorkerDatabase()
    } finally {
      this.broker.close()
      this.restoreServiceEnv()
    }
  }
}
