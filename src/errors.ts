import { inspect } from 'node:util'

/**
 * Every failure pgrig expects a user to hit carries a stable `code` and a message that says
 * what happened, why, and what to do, so the CLI can print it as one line and scripts can
 * branch on the code instead of parsing text.
 */
export type PgrigErrorCode =
  | 'E_CONFIG_INVALID'
  | 'E_CONFIG_NOT_FOUND'
  | 'E_ENGINE_NOT_FOUND'
  | 'E_ENGINE_INSTALL'
  | 'E_UNSUPPORTED_PLATFORM'
  | 'E_UNKNOWN_VERSION'
  | 'E_PORT_IN_USE'
  | 'E_NO_UNPRIVILEGED_USER'
  | 'E_INITDB_FAILED'
  | 'E_STARTUP_TIMEOUT'
  | 'E_SERVER_EXITED'
  | 'E_SERVER_DIED'
  | 'E_INIT_SCRIPT'
  | 'E_NAME_TAKEN'
  | 'E_NOT_RUNNING'
  | 'E_EXTERNAL_SERVER'
  | 'E_RUN_DIR_UNREACHABLE'
  | 'E_UNSAFE_FOLDER'
  | 'E_COMMAND_NOT_FOUND'
  | 'E_USAGE'
  | 'E_REDIS_NOT_FOUND'
  | 'E_MIGRATION_FAILED'
  | 'E_POOL_CLOSED'
  | 'E_BROKER'
  | 'E_NOT_POSTGRES'
  | 'E_UNSAFE_TARGET'
  | 'E_TRANSACTION_MODE'
  | 'E_RESET_FAILED'
  | 'E_HISTORY_INVALID'
  | 'E_RECOVERY_NOT_SEEN'
  | 'E_FAULT_FAILED'
  | 'E_CORRUPT_TARGET'
  | 'E_FILE_EXISTS'
  | 'E_REPORT_INVALID'
  | 'E_TLS_CONFIG'
  | 'E_SERVICE_EXITED'
  | 'E_SERVICE_FAILED'
  /** The chaos proxy's API: a bad request (HTTP 400), no such proxy or toxic (404), a name taken (409). */
  | 'E_CHAOS_INVALID'
  | 'E_CHAOS_NOT_FOUND'
  | 'E_CHAOS_EXISTS'
  /** pgrig serve's API, IntegreSQL's statuses: see STATUS_OF in serve/api-types.ts. */
  | 'E_SERVE_INVALID'
  | 'E_SERVE_NOT_FOUND'
  | 'E_SERVE_GONE'
  | 'E_SERVE_TOO_LARGE'
  | 'E_SERVE_LOCKED'
  | 'E_SERVE_ABANDONED'
  | 'E_SERVE_UNAVAILABLE'
  | 'E_SERVE_FAILED'
  /** Disk full, an unusable cache folder, a damaged cached template: what to free, clean or point elsewhere. */
  | 'E_DISK_FULL'
  | 'E_CACHE_UNUSABLE'
  | 'E_TEMPLATE_DAMAGED'

export class PgrigError extends Error {
  override readonly name = 'PgrigError'
  /** The exit status the CLI ends with; 1 unless a convention says otherwise (127: command not found). */
  readonly exitCode: number

  constructor(
    readonly code: PgrigErrorCode,
    message: string,
    options?: { cause?: unknown; exitCode?: number },
  ) {
    super(message, options)
    this.exitCode = options?.exitCode ?? 1
  }
}

export function isPgrigError(error: unknown): error is PgrigError {
  return error instanceof PgrigError
}

/**
 * The same error, shown by `console.error` / `util.inspect` (as a test runner prints an error it
 * cannot place) as the one line `pgrig: <message>`, with no stack.
 */
export function printedAsOneLine(error: PgrigError): PgrigError {
  Object.defineProperty(error, inspect.custom, { value: () => `pgrig: ${error.message}` })
  return error
}
