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
  | 'E_INIT_SCRIPT'
  | 'E_NAME_TAKEN'
  | 'E_NOT_RUNNING'
  | 'E_EXTERNAL_SERVER'
  | 'E_USAGE'
  | 'E_FILE_EXISTS'
  | 'E_REPORT_INVALID'

export class PgrigError extends Error {
  override readonly name = 'PgrigError'
  constructor(
    readonly code: PgrigErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

export function isPgrigError(error: unknown): error is PgrigError {
  return error instanceof PgrigError
}
