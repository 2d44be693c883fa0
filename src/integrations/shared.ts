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
