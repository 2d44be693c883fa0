/** What pgrig's fixtures attach to a test (`task.meta.pgrig`); the pgrig reporter shows it in failure details. */
export interface PgrigTaskMeta {
  /** Milliseconds spent provisioning the test's database. */
  provisionMs?: number
  /** Server log lines written while the test ran. */
  serverLog?: string
  /** URL of a database kept after a failure for inspection (the report redacts its password). */
  keptDatabaseUrl?: string
}

declare module 'vitest' {
  interface TaskMeta {
    pgrig?: PgrigTaskMeta
  }
}

/** The heading of the server log pgrig/vitest appends to a failed test's first error; reports strip it there. */
export const SERVER_LOG_NOTE = 'pgrig: server log during this test:'
