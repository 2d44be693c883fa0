import type { Outcome } from './types.js'

/**
 * SQLSTATE classes after which PostgreSQL has certainly rolled the transaction back: the
 * statement was refused (syntax, constraint, privilege) or the transaction lost a
 * serialization/deadlock race. Anything else (a dropped connection, an admin shutdown, a
 * timeout) may have struck after COMMIT reached the server, so the outcome is unknown.
 */
const DEFINITE_FAILURE_CLASSES = new Set(['22', '23', '25', '40', '42', '44'])

/** `fail` when the error proves the transaction did not commit, `info` when it might have. */
export function outcomeOfError(error: unknown): Exclude<Outcome, 'ok'> {
  const code = (error as { code?: unknown } | null)?.code
  if (
    typeof code === 'string' &&
    /^[0-9A-Z]{5}$/.test(code) &&
    DEFINITE_FAILURE_CLASSES.has(code.slice(0, 2))
  ) {
    return 'fail'
  }
  return 'info'
}

export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code
    return typeof code === 'string' ? `${code} ${error.message}` : error.message
  }
  return String(error)
}
