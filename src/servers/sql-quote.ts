import pg from 'pg'
import { PgrigError } from '../errors.js'

/**
 * The one way pgrig puts a name or a text into SQL it writes: checked (nothing PostgreSQL would
 * mangle), then escaped as node-postgres does (`escapeIdentifier`, `escapeLiteral`).
 */

/** PostgreSQL's NAMEDATALEN - 1: longer identifiers are silently cut, which could merge two names. */
export const MAX_IDENTIFIER_BYTES = 63

/**
 * Refuses identifiers PostgreSQL would mangle: empty, NUL, or longer than 63 bytes (silently
 * cut, which could turn one name into another).
 */
export function assertIdentifier(name: string, what = 'database name'): void {
  if (name.length === 0 || name.includes('\u0000')) {
    throw new PgrigError('E_UNSAFE_TARGET', `${what} ${JSON.stringify(name)} is empty or contains NUL`)
  }
  const bytes = Buffer.byteLength(name)
  if (bytes > MAX_IDENTIFIER_BYTES) {
    throw new PgrigError(
      'E_UNSAFE_TARGET',
      `${what} ${JSON.stringify(name.slice(0, 40))}… is ${bytes} bytes; PostgreSQL cuts names at ${MAX_IDENTIFIER_BYTES} bytes, which could hit another database`,
    )
  }
}

/** Double-quoted identifier, safe for any name (quotes doubled). */
export function quoteIdentifier(name: string): string {
  assertIdentifier(name, 'identifier')
  return pg.escapeIdentifier(name)
}

/** Single-quoted literal, safe for any text (quotes and backslashes handled). */
export function quoteLiteral(text: string): string {
  if (text.includes('\u0000')) throw new PgrigError('E_UNSAFE_TARGET', 'a SQL literal cannot contain NUL')
  return pg.escapeLiteral(text)
}
