import fs from 'node:fs'
import os from 'node:os'
import pg from 'pg'
import { PgrigError } from '../errors.js'
import { BIRTH_OPTIONS, cloneDatabaseName, markBorn, workerDatabaseName, type OwnedKind } from './guard.js'
import { userOf, withDatabase } from '../cluster/libpq-url.js'
import { quoteIdentifier } from '../cluster/sql-quote.js'

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
  /** Numbers for clone names; pools of one run on one server must share one (default: this pool's own count). */
  nextIndex?: (() => number) | undefined
  /**
   * How long a released clone waits for the test's own connections to close before they are
   * terminated and it is dropped anyway (default 2000 ms; 250 ms while tests wait on the cap).
   */
  dropGraceMs?: number | undefined
  /** Says (on the spot, cheaply) whether the server died: E_SERVER_DIED, which every later call then fails with. */
  serverDied?: (() => PgrigError | undefined) | undefined
  /** Said with a kept database's URL (how its server stays reachable, and how to stop it). */
  keptNote?: string | undefined
  /**
   * Open one session in each clone made ahead of demand before it is handed out (default off:
   * measured, the extra backend per clone cost more server time than the test's first
   * connection saved).
   */
  prewarm?: boolean | undefined
  /** Clones created, and clones dropped, at once (default one per core, 2–8; sessions that share a checkpoint). */
  parallel?: number | undefined
  /**
   * Each acquire raises the number kept ready by one, up to `max`, so a pool that hands out
   * databases faster than `size` allows keeps more ready (IntegreSQL's pool extends on every checkout).
   */
  grow?: boolean | undefined
  /**
   * A released clone's replacement is made while it is dropped: a clone whose DROP is under way
   * gives up its place under `max` (so up to `parallel` more may exist for a moment), and the
   * replacement is ready after one CREATE instead of a DROP and a CREATE.
   */
  replaceWhileDropping?: boolean | undefined
  /**
   * Takes back leases their holders never gave back: when a test waits, the cap is reached and no
   * slot is about to free up, the oldest lease nobody has been connected to for 2 s is dropped and
   * replaced; this is told its name first. Without it, such a test waits for a release.
   */
  reclaim?: ((name: string) => void) | undefined
  /**
   * The server runs on this machine (its backends' pids are this machine's): the pool's own
   * sessions, which create and drop clones, run at a lower CPU priority than the tests' (see
   * BACKGROUND_NICE).
   */
  localServer?: boolean | undefined
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
  /** Printed after the URL when a failed test's database is kept. */
  keptNote?: string
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
  /** Milliseconds those acquires waited, summed. */
  waitedMs: number
  /** Clones being created or dropped right now (background work). */
  busy: number
  /** Clones that had a session opened in them before they were handed out. */
  prewarmed: number
  /** Leases taken back from holders that never gave them back (`reclaim`). */
  reclaimed: number
  /** How creates copy the template's files (PostgreSQL 18's file_copy_method); absent before 18. */
  fileCopyMethod?: 'clone' | 'copy'
}

interface Waiter {
  resolve: (lease: Lease) => void
  reject: (error: Error) => void
  /** performance.now() when the acquire began waiting. */
  since: number
}

/**
 * CREATE DATABASE sessions at once: one per core (at least 2, so a drop-heavy phase never starves
 * creation; at most 8, past which the server's own checkpoints and locks are the limit).
 */
const CREATE_PARALLEL = Math.min(8, Math.max(2, os.availableParallelism()))
/**
 * How much nicer than the server the backends creating and dropping clones run: on a busy
 * machine, copying templates must not take CPU from the tests' own queries, and when tests wait
 * for a clone their backends are idle, so the creates get the CPU then.
 */
const BACKGROUND_NICE = 10
const DROP_GRACE_MS = 2_000
/** The grace a drop gets while tests wait for a clone the cap holds back: a leaked connection must not stall the run. */
const PRESSED_GRACE_MS = 250
/**
 * A lease is reclaimed only once every look for this long found no connection to it: a test that
 * connects per query, or has not connected yet, is never caught between two connections.
 */
const RECLAIM_IDLE_MS = 2_000
/** How often a pool stuck at its cap looks at its leases' connections. */
const RECLAIM_POLL_MS = 100
/**
 * How long the pool's own sessions wait to connect: a server that never answers (a host that does
 * not resolve, a hung machine) fails the waiting test with the reason instead of hanging it.
 */
const CONNECT_TIMEOUT_MS = 30_000
/**
 * How often pg_stat_activity is asked whether the released clones are free of connections. The
 * drops run in the background, so a later look costs no test anything; measured (bench:overhead,
 * 200 trivial tests, one A/B run), 50 ms against 10 ms took 0.43 s of CPU off the Vitest processes.
 */
const DRAIN_POLL_MS = 50

/**
 * Keeps clones of a template ready so a test's database costs a queue shift. Used clones are
 * dropped in the background; the number alive is capped, and acquires wait when tests outrun it.
 */
export class ClonePool {
  /** How many are kept ready: `size`, raised per acquire with `grow`. */
  private target: number
  private readonly max: number
  private readonly parallel: number
  private readonly dropGraceMs: number
  private readonly creators: pg.Pool
  private readonly droppers: pg.Pool
  private readonly ready: string[] = []
  /** Leased clones, with when each was handed out (oldest first). */
  private readonly leased = new Map<string, number>()
  private readonly waiters: Waiter[] = []
  private readonly kept: string[] = []
  /** Released clones waiting for their connections to go, with when they were released. */
  private readonly draining = new Map<string, number>()
  private drainer: Promise<void> | undefined
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
  private reclaiming = false
  /** While stuck: since when each lease has been seen with no connection at every look. */
  private readonly idleSince = new Map<string, number>()
  private closed = false
  private failures = 0
  /** Set once the server died: every acquire fails fast with it. */
  private dead: PgrigError | undefined
  /**
   * PostgreSQL 18's file_copy_method for creates: `clone` (copy_file_range: the kernel copies
   * the template's files, or shares their blocks on a reflink filesystem; measured 15.0 ms of
   * server CPU a clone against 16.8 ms on tmpfs) until the server says the filesystem cannot,
   * then `copy`. Undefined before 18.
   */
  private copyMethod: 'clone' | 'copy' | undefined
  /** The file_copy_method each creator session was last set to. */
  private readonly methodOf = new WeakMap<pg.PoolClient, 'clone' | 'copy'>()
  /** The pool's own sessions whose backend has been given its lower CPU priority. */
  private readonly niced = new WeakSet<pg.PoolClient>()

  constructor(private readonly options: ClonePoolOptions) {
    this.target = Math.max(0, options.size ?? 4)
    this.max = Math.max(1, options.max ?? Math.max(16, this.target * 2))
    this.parallel = Math.max(1, options.parallel ?? CREATE_PARALLEL)
    this.dropGraceMs = Math.max(0, options.dropGraceMs ?? DROP_GRACE_MS)
    if (options.serverVersionNum >= 180000) this.copyMethod = 'clone'
    const sessions = { connectionString: options.adminUrl, connectionTimeoutMillis: CONNECT_TIMEOUT_MS }
    this.creators = new pg.Pool({ ...sessions, max: this.parallel })
    // Drops side by side too: each makes the server checkpoint, and concurrent drops share one
    // (measured: 5.5 ms of server CPU a drop four at a time, 6.8 ms one by one).
    this.droppers = new pg.Pool({ ...sessions, max: this.parallel })
    for (const sessions of [this.creators, this.droppers]) {
      sessions.on('error', ignoreError)
      // Each session has a listener of its own for its whole life, from the moment it connects:
      // pg-pool takes its idle listener off a session it hands out before `connect()` resolves, so
      // a 57P01 read in the same chunk as the session's first ReadyForQuery (a server killed just
      // then, on a busy machine) would be an unhandled 'error' event before the caller could listen.
      // Its errors fail the caller's query instead.
      sessions.on('connect', (client) => client.on('error', ignoreError))
    }
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
      this.pump()
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
    this.draining.set(name, performance.now())
    this.drainer ??= this.track(this.drain()).finally(() => (this.drainer = undefined))
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
        this.track(old.then((l) => this.dropWorker(l.name)).catch(() => {}))
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
      ...(this.copyMethod ? { fileCopyMethod: this.copyMethod } : {}),
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
      this.draining.clear()
      // Creates under way finish (the drain, with nothing left to drain, ends at once).
      while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight])
      await Promise.all([this.creators.end(), this.droppers.end()])
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
    await Promise.all([this.creators.end(), this.droppers.end()])
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
      url: withDatabase(this.options.appUrl, name),
      adminUrl: withDatabase(this.options.adminUrl, name),
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
    this.reclaimStuck()
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
    return this.waiters.length - this.ready.length - this.creating - this.draining.size - this.dropping
  }

  /** With `reclaim`, a pool stuck at its cap looks for leases whose holders have let go. */
  private reclaimStuck(): void {
    if (!this.options.reclaim || this.reclaiming || this.stuck() <= 0) return
    this.reclaiming = true
    this.track(this.reclaimIdle()).catch(() => {})
  }

  /**
   * Takes back, oldest first, leases nobody has been connected to for RECLAIM_IDLE_MS: a holder
   * that is done but never gave its database back. A lease in use is never taken; while every one
   * is, the waiting tests wait for a holder to give one back.
   */
  private async reclaimIdle(): Promise<void> {
    try {
      while (this.stuck() > 0) {
        const names = [...this.leased.keys()]
        let busy: Set<string>
        try {
          busy = await this.connected(names)
        } catch {
          return // the server is gone or going
        }
        const now = performance.now()
        for (const name of names) {
          if (busy.has(name) || !this.leased.has(name)) this.idleSince.delete(name)
          else if (!this.idleSince.has(name)) this.idleSince.set(name, now)
        }
        let short = this.stuck()
        for (const name of names) {
          if (short <= 0) break
          const since = this.idleSince.get(name)
          if (since === undefined || now - since < RECLAIM_IDLE_MS || !this.leased.delete(name)) continue
          short--
          this.idleSince.delete(name)
          this.reclaimed++
          this.options.reclaim?.(name)
          this.track(this.drop(name)).catch(() => {})
        }
        if (this.stuck() > 0) await new Promise((resolve) => setTimeout(resolve, RECLAIM_POLL_MS))
      }
    } finally {
      this.idleSince.clear()
      this.reclaiming = false
    }
  }

  private async createDatabase(name: string, kind: OwnedKind): Promise<void> {
    const { template, appUrl, runId, serverVersionNum } = this.options
    const owner = userOf(appUrl)
    // file_copy skips WAL-logging every block of the template: much faster for the small
    // databases tests use (PostgreSQL 15 made wal_log the default).
    const strategy = serverVersionNum >= 150000 ? ' strategy file_copy' : ''
    const client = await this.creators.connect()
    await this.nice(client)
    const create = async () => {
      const method = this.copyMethod
      if (method && this.methodOf.get(client) !== method) {
        await client.query(`set file_copy_method = ${method}`)
        this.methodOf.set(client, method)
      }
      // Born recognisable as pgrig's (BIRTH_OPTIONS), then marked and opened in one transaction.
      await client.query(
        `create database ${quoteIdentifier(name)} template ${quoteIdentifier(template)} owner ${quoteIdentifier(owner)}${strategy} ${BIRTH_OPTIONS}`,
      )
    }
    try {
      try {
        await create()
      } catch (error) {
        // A filesystem without copy_file_range: the server cleaned the half-copied folder up; copy from now on.
        if (this.copyMethod !== 'clone' || !/could not clone file/i.test((error as Error).message))
          throw error
        this.copyMethod = 'copy'
        await create()
      }
      await markBorn(client, name, { runId, kind })
      this.created++
    } finally {
      client.release()
    }
    // A clone nobody waits for yet is prewarmed; one a test waits for goes straight to it.
    if (this.options.prewarm && kind === 'clone' && this.waiters.length === 0) await this.prewarm(name)
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

  /**
   * Drops released clones one by one as their connections go, each at the latest when its grace
   * period ends (then WITH (FORCE) terminates what is left, and nobody is told: the test is over).
   */
  private async drain(): Promise<void> {
    while (this.draining.size > 0) {
      const names = [...this.draining.keys()]
      let busy: Set<string>
      try {
        busy = await this.connected(names)
      } catch {
        busy = new Set() // the server is gone or going: the drops fail and free their slots
      }
      const pressed = this.closed || (this.waiters.length > 0 && this.held >= this.max)
      const grace = pressed ? Math.min(PRESSED_GRACE_MS, this.dropGraceMs) : this.dropGraceMs
      const now = performance.now()
      const due = names.filter((name) => !busy.has(name) || now - this.draining.get(name)! >= grace)
      for (const name of due) {
        this.draining.delete(name)
        this.track(this.drop(name)).catch(() => {})
      }
      if (due.length === 0) await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS))
    }
  }

  /** Which of these databases someone is connected to right now. */
  private async connected(names: string[]): Promise<Set<string>> {
    const { rows } = await this.dropper((client) =>
      client.query<{ datname: string }>(
        'select distinct datname from pg_stat_activity where datname = any($1::text[])',
        [names],
      ),
    )
    return new Set(rows.map((row) => row.datname))
  }

  /** Lowers the CPU priority of the backend behind one of the pool's own sessions, once (local servers only). */
  private async nice(client: pg.PoolClient): Promise<void> {
    if (!this.options.localServer || BACKGROUND_NICE <= 0 || this.niced.has(client)) return
    this.niced.add(client)
    try {
      const pid = Number((await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid)
      os.setPriority(pid, Math.min(19, os.getPriority(pid) + BACKGROUND_NICE))
    } catch {
      // another user's server (EPERM) or a backend gone: it keeps its priority
    }
  }

  /** A dropper session, niced (see nice()). */
  private async dropper<T>(run: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.droppers.connect()
    let failure: Error | undefined
    try {
      await this.nice(client)
      return await run(client)
    } catch (error) {
      failure = error as Error
      throw error
    } finally {
      // As pg.Pool's own query() does: a session whose query failed is not reused.
      client.release(failure)
    }
  }

  private async dropWorker(name: string): Promise<void> {
    await this.dropper((client) =>
      client.query(`drop database if exists ${quoteIdentifier(name)} with (force)`),
    )
  }

  private async drop(name: string): Promise<void> {
    this.dropping++
    if (this.options.replaceWhileDropping) this.pump()
    try {
      // FORCE: a test may leave its own connections open; they must not keep the clone alive.
      await this.dropper((client) =>
        client.query(`drop database if exists ${quoteIdentifier(name)} with (force)`),
      )
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

function ignoreError(): void {}
