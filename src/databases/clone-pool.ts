import fs from 'node:fs'
import os from 'node:os'
import pg from 'pg'
import { PgrigError } from '../errors.js'
import { ident, literal } from './admin.js'
import { cloneName, markerComment, withDatabase, workerDatabaseName, type DatabaseKind } from './names.js'

export interface ClonePoolOptions {
  /** Superuser URL of the server. */
  adminUrl: string
  /** App user URL; clones are owned by this user and leased with its credentials. */
  appUrl: string
  /** The template database to clone. */
  template: string
  /** Carried in every clone's name and ownership marker. */
  runId: string
  /** PostgreSQL's server_version_num; 15 and later clone with STRATEGY file_copy. */
  serverVersionNum: number
  /** Clones kept ready ahead of demand (default 4). */
  size?: number | undefined
  /** Cap on clones alive at once, ready + leased + being dropped (default 16). */
  max?: number | undefined
  /** The server's log, so a lease can say where its slice of the log starts. */
  logFile?: string | null | undefined
}

/** A database handed to one test. */
export interface Lease {
  name: string
  /** App user, owner of everything in the database. */
  url: string
  /** Superuser, same database. */
  adminUrl: string
  logFile: string | null
  /** Size of the server log when the lease was handed out. */
  logOffset: number
}

export interface PoolStats {
  ready: number
  leased: number
  alive: number
  created: number
  dropped: number
  kept: string[]
  /** Acquires that found no clone ready and had to wait. */
  waited: number
  /** Clones being created or dropped right now (background work). */
  busy: number
  /** Clones that had a session opened in them before they were handed out. */
  prewarmed: number
}

interface Waiter {
  resolve: (lease: Lease) => void
  reject: (error: Error) => void
}

/**
 * CREATE DATABASE sessions at once: one per core (at least 2, so a drop-heavy phase never starves
 * creation; at most 8, past which the server's own checkpoints and locks are the limit).
 */
const CREATE_PARALLEL = Math.min(8, Math.max(2, os.availableParallelism()))

/**
 * Keeps clones of a template ready so a test's database costs a queue shift. Used clones are
 * dropped in the background; the number alive is capped, and acquires wait when tests outrun it.
 */
export class ClonePool {
  private readonly size: number
  private readonly max: number
  private readonly creators: pg.Pool
  private readonly droppers: pg.Pool
  private readonly ready: string[] = []
  private readonly leased = new Set<string>()
  private readonly waiters: Waiter[] = []
  private readonly kept: string[] = []
  private readonly workers = new Map<string, Promise<Lease>>()
  private readonly inFlight = new Set<Promise<unknown>>()
  private alive = 0
  private creating = 0
  private counter = 0
  private created = 0
  private dropped = 0
  private waited = 0
  private prewarmed = 0
  private closed = false
  private failures = 0

  constructor(private readonly options: ClonePoolOptions) {
    this.size = Math.max(0, options.size ?? 4)
    this.max = Math.max(1, options.max ?? Math.max(16, this.size * 2))
    this.creators = new pg.Pool({ connectionString: options.adminUrl, max: CREATE_PARALLEL })
    this.droppers = new pg.Pool({ connectionString: options.adminUrl, max: 1 })
    this.creators.on('error', () => {})
    this.droppers.on('error', () => {})
    this.pump()
  }

  /** A fresh clone no other test sees; waits (never fails) while the cap is reached. */
  acquire(): Promise<Lease> {
    if (this.closed) return Promise.reject(closedError())
    const name = this.ready.shift()
    if (name !== undefined) {
      this.pump()
      return Promise.resolve(this.lease(name))
    }
    this.waited++
    return new Promise<Lease>((resolve, reject) => {
      this.waiters.push({ resolve, reject })
      this.pump()
    })
  }

  /** Hands a leased clone back: dropped in the background, or kept for a look after a failure. */
  release(name: string, options: { keep?: boolean } = {}): void {
    if (!this.leased.delete(name)) {
      throw new PgrigError('E_USAGE', `database ${name} is not leased from this pool; nothing released`)
    }
    if (options.keep) {
      this.kept.push(name)
      this.alive--
      this.pump()
      return
    }
    this.track(this.drop(name))
  }

  /**
   * One long-lived database per key (a worker slot) for the transaction and truncate modes,
   * cloned from the same template; dropped when the pool closes.
   */
  workerDatabase(key: string): Promise<Lease> {
    if (this.closed) return Promise.reject(closedError())
    let lease = this.workers.get(key)
    if (!lease) {
      const name = workerDatabaseName(this.options.runId, this.workers.size + 1)
      lease = this.createDatabase(name, 'worker').then(() => this.describe(name))
      this.workers.set(key, lease)
      lease.catch(() => this.workers.delete(key))
    }
    return lease.then((l) => ({ ...l, logOffset: this.logOffset() }))
  }

  stats(): PoolStats {
    return {
      ready: this.ready.length,
      leased: this.leased.size,
      alive: this.alive,
      created: this.created,
      dropped: this.dropped,
      kept: [...this.kept],
      waited: this.waited,
      busy: this.inFlight.size,
      prewarmed: this.prewarmed,
    }
  }

  /** Stops filling, drops every clone it still holds (not the kept ones), and closes its connections. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const waiter of this.waiters.splice(0)) waiter.reject(closedError())
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight])
    const workerNames = (await Promise.allSettled([...this.workers.values()])).flatMap((r) =>
      r.status === 'fulfilled' ? [r.value.name] : [],
    )
    const names = [...this.ready.splice(0), ...this.leased, ...workerNames]
    this.leased.clear()
    await Promise.allSettled(names.map((name) => this.drop(name)))
    await Promise.all([this.creators.end(), this.droppers.end()])
  }

  private lease(name: string): Lease {
    this.leased.add(name)
    return this.describe(name)
  }

  private describe(name: string): Lease {
    return {
      name,
      url: withDatabase(this.options.appUrl, name),
      adminUrl: withDatabase(this.options.adminUrl, name),
      logFile: this.options.logFile ?? null,
      logOffset: this.logOffset(),
    }
  }

  private logOffset(): number {
    if (!this.options.logFile) return 0
    try {
      return fs.statSync(this.options.logFile).size
    } catch {
      return 0
    }
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.inFlight.add(promise)
    void promise.finally(() => this.inFlight.delete(promise)).catch(() => {})
    return promise
  }

  private pump(): void {
    while (
      !this.closed &&
      this.creating < CREATE_PARALLEL &&
      this.ready.length + this.creating < this.size + this.waiters.length &&
      this.alive < this.max
    ) {
      this.alive++
      this.creating++
      const name = cloneName(this.options.runId, ++this.counter)
      this.track(
        this.createDatabase(name, 'clone').then(
          () => {
            this.creating--
            this.failures = 0
            const waiter = this.waiters.shift()
            if (waiter) waiter.resolve(this.lease(name))
            else this.ready.push(name)
            this.pump()
          },
          (error: Error) => {
            this.creating--
            this.alive--
            // A server that went away fails every clone: hand the error to a waiting test instead of retrying forever.
            this.failures++
            const waiter = this.waiters.shift()
            if (waiter) {
              waiter.reject(
                new PgrigError('E_POOL_CLOSED', `could not clone the template: ${error.message}`, {
                  cause: error,
                }),
              )
            }
            if (this.failures < 3) this.pump()
          },
        ),
      )
    }
  }

  private async createDatabase(name: string, kind: DatabaseKind): Promise<void> {
    const { template, appUrl, runId, serverVersionNum } = this.options
    const owner = decodeURIComponent(new URL(appUrl).username)
    // file_copy skips WAL-logging every block of the template: much faster for the small
    // databases tests use (PostgreSQL 15 made wal_log the default).
    const strategy = serverVersionNum >= 150000 ? ' strategy file_copy' : ''
    const client = await this.creators.connect()
    try {
      await client.query(
        `create database ${ident(name)} template ${ident(template)} owner ${ident(owner)}${strategy}`,
      )
      await client.query(`comment on database ${ident(name)} is ${literal(markerComment({ runId, kind }))}`)
      this.created++
    } finally {
      client.release()
    }
    // A clone nobody waits for yet is prewarmed; one a test waits for goes straight to it.
    if (kind === 'clone' && this.waiters.length === 0) await this.prewarm(name)
  }

  /**
   * Opens one session in a new clone, off the test's critical path: the first backend in a
   * database builds its relation cache init file, which every later connection reads. A prewarm
   * that fails leaves the clone as good as it was.
   */
  private async prewarm(name: string): Promise<void> {
    const client = new pg.Client({ connectionString: withDatabase(this.options.adminUrl, name) })
    client.on('error', () => {})
    try {
      await client.connect()
      this.prewarmed++
    } catch {
      // the test's own first connection builds it instead
    } finally {
      await client.end().catch(() => {})
    }
  }

  private async drop(name: string): Promise<void> {
    try {
      // FORCE: a test may leave its own connections open; they must not keep the clone alive.
      await this.droppers.query(`drop database if exists ${ident(name)} with (force)`)
      this.dropped++
    } finally {
      this.alive--
      this.pump()
    }
  }
}

function closedError(): PgrigError {
  return new PgrigError('E_POOL_CLOSED', 'the database pool is closed; the test run is ending')
}
