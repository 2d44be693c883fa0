import type { PgrigError } from '../errors.js'

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
   * BACKGROUND_NICE in clone-sessions.ts).
   */
  localServer?: boolean | undefined
  /**
   * The pool's own sessions (creates, drops, looks at pg_stat_activity) run on a thread of their
   * own, so their socket traffic never holds this one (pgrig serve: the thread answering checkouts).
   */
  sessionsThread?: boolean | undefined
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
