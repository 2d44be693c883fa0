import { isPgrigError, PgrigError } from '../errors.js'

/** The HTTP status each of the API's errors answers with; the message is what IntegreSQL's server says. */
export const STATUS_OF = {
  E_SERVE_INVALID: 400,
  E_SERVE_NOT_FOUND: 404,
  E_SERVE_GONE: 410,
  E_SERVE_TOO_LARGE: 413,
  E_SERVE_LOCKED: 423,
  E_SERVE_ABANDONED: 499,
  E_SERVE_FAILED: 500,
  E_SERVE_UNAVAILABLE: 503,
} as const

export type ApiErrorCode = keyof typeof STATUS_OF
export type ApiError = PgrigError & { code: ApiErrorCode }

export function apiError(code: ApiErrorCode, message: string): ApiError {
  return new PgrigError(code, message) as ApiError
}

export function isApiError(error: unknown): error is ApiError {
  return isPgrigError(error) && error.code in STATUS_OF
}

/** How a client connects to a template or test database (IntegreSQL's JSON field names). */
export interface DatabaseConfig {
  host: string
  port: number
  username: string
  password: string
  database: string
  /**
   * The connection's other libpq parameters (`sslmode`, and the TLS files of a TLS server), which
   * IntegreSQL's clients add to the connection string; without `sslmode` its Go client says `disable`.
   */
  additionalParams?: Record<string, string>
}

export interface TemplateDatabase {
  database: { templateHash: string; config: DatabaseConfig }
}

export interface TestDatabase extends TemplateDatabase {
  id: number
}
