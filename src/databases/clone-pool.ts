import fs from 'node:fs'
import { PgrigError } from '../errors.js'
import { cloneDatabaseName, workerDatabaseName, type OwnedKind } from './guard.js'
import { databaseUrls, userOf } from '../servers/libpq-url.js'
import type { ClonePoolOptions, Lease, PoolStats } from './clone-pool-types.js'
import { CREATE_PARALLEL } from './clone-sessions.js'
import { poolSessions, type PoolSessions } from './clone-sessions-thread.js'
import { DROP_GRACE_MS, ReleasedClones } from './released-clones.js'
import { LeaseReclaimer } from './lease-reclaimer.js'

export type { ClonePoolOptions, Lease, PoolStats } from './clone-pool-types.js'

interface Waiter {
  resolve: (lease: Lease) => void
  reject: (error: Error) => void
  /** performance.now() when the acquire began waiting. */
  since: number
}

/**
 * Keeps clones of a template ready so a test's database costs a queue shift. Used clones are
 * dropped in the background; the number alive is capped, and acquires wait when tests outrun it.
 */
export class ClonePool {
  /** How many are kept ready: `size`, raised per acquire with `grow`. */
  private target: number
  private readonly max: number
  private readonly parallel: number
  private readonly sessions: PoolSessions
  private readonly appUrlOf: (database: string) => string
  private readonly adminUrlOf: (database: string) => string
  private readonly ready: string[] = []
  /** Leased clones, with when each was handed out (oldest first). */
  private readonly leased = new Map<string, number>()
  private readonly waiters: Waiter[] = []
  private readonly kept: string[] = []
  private readonly released: ReleasedClones
  private readonly reclaimer: LeaseReclaimer | undefined
  private readonly workers = new Map<string, Promise<Lease>>()
  /** Per key, the worker database a `fresh` request replaced, dropped at the next one. */
  private readonly retired = new Map<string, Promise<Lease>[]>()
  private workerCounter = 0
  private readonly inFlight = new Set<Promise<unknown>>()
  private alive = 0
  private creating = 0
  private dropping = 0
  private counter = 0
  private created = 0
  private dropped = 0
  private waited = 0
  private waitedMs = 0
  private prewarmed = 0
  private reclaimed = 0
  private closed = false
  private refillScheduled = false
  private failures = 0
  /** Set once the server died: every acquire fails fast with it. */
  private dead: PgrigError | undefined

  constructor(private readonly options: ClonePoolOptions) {
    this.target = Math.max(0, options.size ?? 4)
    this.max = Math.max(1, options.max ?? Math.max(16, this.target * 2))
    this.parallel = Math.max(1, options.parallel ?? CREATE_PARALLEL)
    this.appUrlOf = databaseUrls(options.appUrl)
    this.adminUrlOf = databaseUrls(options.adminUrl)
    this.sessions = poolSessions(
      {
        adminUrl: options.adminUrl,
        serverVersionNum: options.serverVersionNum,
        parallel: this.parallel,
        localServer: options.localServer,
      },
      options.sessionsThread ?? false,
    )
    const track = <T>(promise: Promise<T>): Promise<T> => this.track(promise)
    const connected = (names: string[]) => this.sessions.connected(names)
    this.released = new ReleasedClones({
      dropGraceMs: Math.max(0, options.dropGraceMs ?? DROP_GRACE_MS),
      pressed: () => this.closed || (this.waiters.length > 0 && this.held >= this.max),
      connected,
      drop: (name) => void this.track(this.drop(name)).catch(() => {}),
      track,
    })
    const reclaim = options.reclaim
    this.reclaimer = reclaim
      ? new LeaseReclaimer({
          leased: () => [...this.leased.keys()],
          isLeased: (name) => this.leased.has(name),
          stuck: () => this.stuck(),
          connected,
          take: (name) => {
            if (!this.leased.delete(name)) return false
            this.reclaimed++
            reclaim(name)
            this.track(this.drop(name)).catch(() => {})
            return true
          },
          track,
        })
      : undefined
    this.pump()
  }

  /** A fresh clone no other test sees; waits (never fails) while the cap is reached. */
  acquire(): Promise<Lease> {
    if (this.closed) return Promise.reject(closedError())
    const dead = this.checkServer()
    if (dead) return Promise.reject(dead)
    if (this.options.grow) this.target = Math.min(this.max, this.target + 1)
    const name = this.ready.shift()
    if (name !== undefined) {
      this.refillSoon()
      return Promise.resolve(this.lease(name))
    }
    this.waited++
    return new Promise<Lease>((resolve, reject) => {
      this.waiters.push({ resolve, reject, since: performance.now() })
      this.pump()
    })
  }

  /**
   * Hands a leased clone back: kept for a look after a failure, or dropped in the background once
   * the test's own connections to it are gone (a pool's `end()` resolves before its sockets close;
   * dropping under them would send its clients 57P01 as an unhandled error).
   */
  release(name: string, options: { keep?: boolean } = {}): void {
    if (!this.leased.delete(name)) {
      throw new PgrigError('E_USAGE', `database ${name} is not leased from this pool; nothing released`)
    }
    // The test that was running when the server died gets the reason along with its own error.
    const dead = this.checkServer()
    if (dead) {
      this.alive--
      throw dead
    }
    if (options.keep) {
      this.kept.push(name)
      this.alive--
      this.pump()
      return
    }
    this.released.add(name)
  }

  /**
   * Hands a leased clone back as untouched (the caller vouches for it): the next acquire gets it
   * as it is, without a new clone.
   */
  giveBack(name: string): void {
    if (!this.leased.delete(name)) {
      throw new PgrigError('E_USAGE', `database ${name} is not leased from this pool; nothing given back`)
    }
    if (this.closed) {
      this.track(this.drop(name))
      return
    }
    this.handOut(name)
  }

  /**
   * One long-lived database per key (a worker slot) for the transaction and truncate modes,
   * cloned from the same template; dropped when the pool closes. With `fresh`, the key gets a
   * new clone (truncate mode: a new worker must start from the template's state, not from what
   * the previous worker of the slot left); the one before last is dropped then, so a previous
   * worker still exiting never has its database pulled from under it.
   */
  workerDatabase(key: string, options: { fresh?: boolean } = {}): Promise<Lease> {
    if (this.closed) return Promise.reject(closedError())
    const dead = this.checkServer()
    if (dead) return Promise.reject(dead)
    let lease = this.workers.get(key)
    if (lease && options.fresh) {
      const retired = (this.retired.get(key) ?? []).concat(lease)
      this.retired.set(key, retired.slice(-1))
      for (const old of retired.slice(0, -1))
        this.track(old.then((l) => this.sessions.drop(l.name)).catch(() => {}))
      lease = undefined
    }
    if (!lease) {
      const name = workerDatabaseName(this.options.runId, ++this.workerCounter)
      lease = this.createDatabase(name, 'worker').then(() => this.describe(name))
      this.workers.set(key, lease)
      lease.catch(() => this.workers.delete(key))
    }
    return lease.then((l) => ({ ...l, logOffset: this.logOffset() }))
  }

  /** Whether `name` is leased from this pool right now (not given back, released or reclaimed). */
  isLeased(name: string): boolean {
    return this.leased.has(name)
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
      waitedMs: Math.round(this.waitedMs),
      busy: this.inFlight.size,
      prewarmed: this.prewarmed,
      reclaimed: this.reclaimed,
      ...(this.sessions.copyMethod ? { fileCopyMethod: this.sessions.copyMethod } : {}),
    }
  }

  /**
   * Stops filling, drops every clone it still holds (not the kept ones), and closes its connections.
   * With `dropClones: false` (the caller stops the server and removes its data right after) it
   * drops nothing: dropping a database a moment before its whole server goes is work for nothing.
   */
  async close(options: { dropClones?: boolean } = {}): Promise<void> {
    if (this.closed) return
    this.closed = true
    for (const waiter of this.waiters.splice(0)) waiter.reject(closedError())
    if (options.dropClones === false) {
      this.released.clear()
      // Creates under way finish (the drain, with nothing left to drain, ends at once).
      while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight])
      await this.sessions.end()
      return
    }
    // Released clones still wait out their connections (briefly: the tests are over) before the pool goes.
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight])
    const workerNames = (
      await Promise.allSettled([...this.workers.values(), ...[...this.retired.values()].flat()])
    ).flatMap((r) => (r.status === 'fulfilled' ? [r.value.name] : []))
    const names = [...this.ready.splice(0), ...this.leased.keys(), ...workerNames]
    this.leased.clear()
    // Side by side, `parallel` at a time (the droppers' pool queues the rest).
    await Promise.allSettled(names.map((name) => this.drop(name)))
    await this.sessions.end()
  }

  /** The server's death, noticed once: waiting tests get it, the pool stops cloning. */
  private checkServer(): PgrigError | undefined {
    if (this.dead) return this.dead
    const dead = this.options.serverDied?.()
    if (!dead) return undefined
    this.dead = dead
    for (const waiter of this.waiters.splice(0)) waiter.reject(dead)
    return dead
  }

  /** A clone that just became free goes to the longest-waiting acquire, else to the ready queue. */
  private handOut(name: string): void {
    const waiter = this.waiters.shift()
    if (!waiter) {
      this.ready.push(name)
      return
    }
    this.waitedMs += performance.now() - waiter.since
    waiter.resolve(this.lease(name))
  }

  private lease(name: string): Lease {
    this.leased.set(name, performance.now())
    return this.describe(name)
  }

  private describe(name: string): Lease {
    return {
      name,
      url: this.appUrlOf(name),
      adminUrl: this.adminUrlOf(name),
      logFile: this.options.logFile ?? null,
      logOffset: this.logOffset(),
      ...(this.options.keptNote ? { keptNote: this.options.keptNote } : {}),
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

  /**
   * pump() on the next turn of the event loop: a refill's first queries are socket writes to the
   * server, and started now they would go out (in microtasks) before the caller has answered
   * its test with the clone just handed out (bench:serve's CPU profile at load 9 on 2 cores: the
   * pool's writes held the serving thread 4.1 s of 38, mostly while it had lost its core to the
   * backend it woke).
   */
  private refillSoon(): void {
    if (this.refillScheduled) return
    this.refillScheduled = true
    setImmediate(() => {
      this.refillScheduled = false
      this.pump()
    })
  }

  private pump(): void {
    while (
      !this.closed &&
      !this.dead &&
      this.creating < this.parallel &&
      this.ready.length + this.creating < this.target + this.waiters.length &&
      this.held < this.max
    ) {
      this.alive++
      this.creating++
      const name = cloneDatabaseName(this.options.runId, this.options.nextIndex?.() ?? ++this.counter)
      this.track(
        this.createDatabase(name, 'clone').then(
          () => {
            this.creating--
            this.failures = 0
            this.handOut(name)
            this.pump()
          },
          (error: Error) => {
            this.creating--
            this.alive--
            if (this.checkServer()) return
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
    this.reclaimer?.poke()
  }

  /** Clones that count against `max`: all alive, but with `replaceWhileDropping` not those being dropped. */
  private get held(): number {
    return this.options.replaceWhileDropping
      ? this.alive - Math.min(this.dropping, this.parallel)
      : this.alive
  }

  /** Tests that wait while every slot under the cap is taken and none is on its way back (created or dropped). */
  private stuck(): number {
    if (this.closed || this.dead || this.held < this.max) return 0
    return this.waiters.length - this.ready.length - this.creating - this.released.size - this.dropping
  }

  private async createDatabase(name: string, kind: OwnedKind): Promise<void> {
    const { template, appUrl, runId } = this.options
    await this.sessions.create({ name, template, owner: userOf(appUrl), runId, kind })
    this.created++
    // A clone nobody waits for yet is prewarmed; one a test waits for goes straight to it.
    if (this.options.prewarm && kind === 'clone' && this.waiters.length === 0) {
      if (await this.sessions.prewarm(name)) this.prewarmed++
    }
  }

  private async drop(name: string): Promise<void> {
    this.dropping++
    if (this.options.replaceWhileDropping) this.pump()
    try {
      await this.sessions.drop(name)
      this.dropped++
    } finally {
      this.dropping--
      this.alive--
      this.pump()
    }
  }
}

function closedError(): PgrigError {
  return new PgrigError('E_POOL_CLOSED', 'the database pool is closed; the test run is ending')
}
