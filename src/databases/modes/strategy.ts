import type { BrokerClient } from '../broker-client.js'
import type { ClonePool, Lease } from '../clone-pool.js'
import type { PgrigOptions } from '../run-databases.js'
import type { TestDatabase } from '../test-database.js'

/**
 * An isolation mode (`isolation: 'database'`, …): one file under `src/databases/modes/` implements
 * it and `modes/index.ts` registers it by name. The run's main process calls `checkOptions` and
 * `checkSchema`; each test process opens one `WorkerIsolation` and asks it for every test's
 * database. Nothing outside the mode's own file looks at its name.
 */
export interface IsolationStrategy<Name extends string = string> {
  readonly name: Name
  /** What a test gets, as a clause of a refusal: "every test gets its own clone". */
  readonly summary: string
  /** Whether a failed test's database can be kept for a look (`keepFailed`): it is the test's alone. */
  readonly keepsFailedDatabase: boolean
  /** Whether each test waits for a database of its own; that wait is reported as the test's `provisionMs`. */
  readonly databasePerTest: boolean
  /**
   * Options only this mode reads (`exclude`), each with the line that refuses it under another
   * mode: set under a mode that does not take it, the run stops before anything starts.
   */
  readonly ownOptions?: Partial<Record<keyof PgrigOptions, (mode: IsolationStrategy) => string>>
  /** Main process, before anything starts: throws a `PgrigError` line for what this mode cannot honour. */
  checkOptions?(options: PgrigOptions): void
  /** Main process, once the pool is up: checks that need the migrated schema (a name in `exclude`). */
  checkSchema?(pool: ClonePool, options: PgrigOptions): Promise<void>
  /** Test process: this mode's side of one worker, opened on the worker's first test. */
  openWorker(context: WorkerContext): WorkerIsolation
}

/** What a test process hands a mode: the broker, its slot, the run and the options the mode reads. */
export interface WorkerContext {
  /** The main process's clone pool, over its socket. */
  broker: Pick<BrokerClient, 'acquire' | 'release' | 'workerDatabase' | 'post'>
  /** The worker slot: reused by later workers, never by two at once (VITEST_POOL_ID, JEST_WORKER_ID). */
  slot: string
  runId: string
  /** Tables a reset leaves alone (`exclude`). */
  exclude?: string[] | undefined
}

/** A mode's side of one test process: a database for each test, and what ends it. */
export interface WorkerIsolation {
  /** Before the test: its database (ready for queries), with the lease the forensics read. */
  beforeEach(): Promise<TestCheckout>
  /** Ends what the worker opened (connections, the transaction endpoint); the databases are the pool's to drop. */
  close(): Promise<void>
}

export interface TestCheckout {
  db: TestDatabase
  /** The database the test got (transaction mode: its url is the transaction endpoint). */
  lease: Lease
  /**
   * After the test: rolls back, resets or hands the database back. `keep` (only asked of a mode
   * that `keepsFailedDatabase`): keep this failed test's database and print its URL.
   */
  afterEach(outcome: { keep: boolean }): Promise<void>
}
