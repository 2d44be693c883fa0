import os from 'node:os'
import pg from 'pg'
import { BIRTH_OPTIONS, markBorn, type OwnedKind } from './guard.js'
import { withDatabase } from '../servers/libpq-url.js'
import { quoteIdentifier } from '../servers/sql-quote.js'

/**
 * CREATE DATABASE sessions at once: one per core (at least 2, so a drop-heavy phase never starves
 * creation; at most 8, past which the server's own checkpoints and locks are the limit).
 */
export const CREATE_PARALLEL = Math.min(8, Math.max(2, os.availableParallelism()))
/**
 * How much nicer than the server the backends creating and dropping clones run: on a busy
 * machine, copying templates must not take CPU from the tests' own queries, and when tests wait
 * for a clone their backends are idle, so the creates get the CPU then.
 */
const BACKGROUND_NICE = 10
/**
 * How long the pool's own sessions wait to connect: a server that never answers (a host that does
 * not resolve, a hung machine) fails the waiting test with the reason instead of hanging it.
 */
const CONNECT_TIMEOUT_MS = 30_000

export interface CloneSessionsOptions {
  /** Superuser URL of the server. */
  adminUrl: string
  /** PostgreSQL's server_version_num: 15 and later clone with STRATEGY file_copy, 18 sets file_copy_method. */
  serverVersionNum: number
  /** Sessions that create, and sessions that drop, at once. */
  parallel: number
  /** The server runs on this machine: the sessions' backends are niced (BACKGROUND_NICE). */
  localServer?: boolean | undefined
}

export interface CreateRequest {
  name: string
  template: string
  owner: string
  runId: string
  kind: OwnedKind
}

/**
 * The clone pool's own superuser sessions: those that create clones from the template and those
 * that drop them and look at pg_stat_activity, each backend at a lower CPU priority on a local server.
 */
export class CloneSessions {
  private readonly creators: pg.Pool
  private readonly droppers: pg.Pool
  /**
   * PostgreSQL 18's file_copy_method for creates: `clone` (copy_file_range: the kernel copies
   * the template's files, or shares their blocks on a reflink filesystem; measured 15.0 ms of
   * server CPU a clone against 16.8 ms on tmpfs) until the server says the filesystem cannot,
   * then `copy`. Undefined before 18.
   */
  private method: 'clone' | 'copy' | undefined
  /** The file_copy_method each creator session was last set to. */
  private readonly methodOf = new WeakMap<pg.PoolClient, 'clone' | 'copy'>()
  /** Sessions whose backend has been given its lower CPU priority. */
  private readonly niced = new WeakSet<pg.PoolClient>()

  constructor(private readonly options: CloneSessionsOptions) {
    if (options.serverVersionNum >= 180000) this.method = 'clone'
    const sessions = { connectionString: options.adminUrl, connectionTimeoutMillis: CONNECT_TIMEOUT_MS }
    this.creators = new pg.Pool({ ...sessions, max: options.parallel })
    // Drops side by side too: each makes the server checkpoint, and concurrent drops share one
    // (measured: 5.5 ms of server CPU a drop four at a time, 6.8 ms one by one).
    this.droppers = new pg.Pool({ ...sessions, max: options.parallel })
    for (const sessions of [this.creators, this.droppers]) {
      sessions.on('error', ignoreError)
      // Each session has a listener of its own for its whole life, from the moment it connects:
      // pg-pool takes its idle listener off a session it hands out before `connect()` resolves, so
      // a 57P01 read in the same chunk as the session's first ReadyForQuery (a server killed just
      // then, on a busy machine) would be an unhandled 'error' event before the caller could listen.
      // Its errors fail the caller's query instead.
      sessions.on('connect', (client) => client.on('error', ignoreError))
    }
  }

  /** How creates copy the template's files (PostgreSQL 18 and later). */
  get copyMethod(): 'clone' | 'copy' | undefined {
    return this.method
  }

  /** Creates a database from the template, born recognisable as pgrig's and marked with its run and kind. */
  async create({ name, template, owner, runId, kind }: CreateRequest): Promise<void> {
    // file_copy skips WAL-logging every block of the template: much faster for the small
    // databases tests use (PostgreSQL 15 made wal_log the default).
    const strategy = this.options.serverVersionNum >= 150000 ? ' strategy file_copy' : ''
    const client = await this.creators.connect()
    await this.nice(client)
    const create = async () => {
      const method = this.method
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
        if (this.method !== 'clone' || !/could not clone file/i.test((error as Error).message)) throw error
        this.method = 'copy'
        await create()
      }
      await markBorn(client, name, { runId, kind })
    } finally {
      client.release()
    }
  }

  /** Drops a database; FORCE: a test may leave its own connections open, they must not keep it alive. */
  async drop(name: string): Promise<void> {
    await this.dropper((client) =>
      client.query(`drop database if exists ${quoteIdentifier(name)} with (force)`),
    )
  }

  /** Which of these databases someone is connected to right now. */
  async connected(names: string[]): Promise<Set<string>> {
    const { rows } = await this.dropper((client) =>
      client.query<{ datname: string }>(
        'select distinct datname from pg_stat_activity where datname = any($1::text[])',
        [names],
      ),
    )
    return new Set(rows.map((row) => row.datname))
  }

  /**
   * Opens one session in a new clone, off the test's critical path: the first backend in a
   * database builds its relation cache init file, which every later connection reads. A prewarm
   * that fails leaves the clone as good as it was; says whether it connected.
   */
  async prewarm(name: string): Promise<boolean> {
    const client = new pg.Client({ connectionString: withDatabase(this.options.adminUrl, name) })
    client.on('error', ignoreError)
    try {
      await client.connect()
      return true
    } catch {
      return false // the test's own first connection builds it instead
    } finally {
      await client.end().catch(() => {})
    }
  }

  async end(): Promise<void> {
    await Promise.all([this.creators.end(), this.droppers.end()])
  }

  /** Lowers the CPU priority of the backend behind one of these sessions, once (local servers only). */
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
}

function ignoreError(): void {}
