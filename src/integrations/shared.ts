import { redactUrl } from '../cluster/server-info.js'
import type { Lease } from '../databases/clone-pool.js'
import { readLogSlice } from '../databases/log-slice.js'
import type { PgrigOptions } from '../databases/session.js'

/** What the main process hands to test workers (survives structuredClone). */
export interface PgrigProvided {
  /** Unix socket of the database broker. */
  socketPath: string
  isolation: NonNullable<PgrigOptions['isolation']>
  keepFailed: boolean
  runId: string
  templateName: string
  /** Present when the plugin was asked for Redis: worker index i uses logical database i. */
  redis?: { host: string; port: number; databases: number }
}

/** An error printed by a test runner as its one line, without a stack trace into pgrig. */
export function oneLine(error: unknown): unknown {
  if (
    error instanceof Error &&
    'code' in error &&
    typeof error.code === 'string' &&
    error.code.startsWith('E_')
  ) {
    error.stack = `${error.name}: ${error.message}`
    // The message already carries the cause's text; its stack would only bury the line.
    delete error.cause
  }
  return error
}

/** What a runner shows for a failed test: the kept database's line (password as ***) and the server log of the test. */
export function failureForensics(
  lease: Lease,
  testName: string,
  keep: boolean,
): { keptLine?: string; serverLog?: string } {
  const forensics: { keptLine?: string; serverLog?: string } = {}
  // Never the password in a log line: it is the run's app password (`pgrig env`, PGPASSWORD).
  if (keep)
    forensics.keptLine = `pgrig: kept database ${lease.name} of failed test "${testName}": ${redactUrl(lease.url)}${lease.keptNote ? ` (${lease.keptNote})` : ''}`
  const log = readLogSlice(lease.logFile, lease.logOffset).trimEnd()
  if (log) forensics.serverLog = log
  return forensics
}
