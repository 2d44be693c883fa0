import { PgrigError } from '../../../errors.js'

export type StatementMatch = string | RegExp | ((sql: string) => boolean)

interface FaultCommon {
  /**
   * Which statements: a string matches the whole statement text (case, surrounding space and a
   * trailing `;` ignored), a RegExp is tested against the text, a function decides.
   */
  match: StatementMatch
  /** Act on at most this many statements (default: every match). `1` = once. */
  times?: number
  /** Chance (0..1) to act on a matching statement (default 1). */
  probability?: number
  name?: string
}

/** Answer matching statements with an error carrying `code` (SQLSTATE). */
export interface ErrorFaultSpec extends FaultCommon {
  type: 'error'
  code: string
  message?: string
  /**
   * Close the connection after the error, as the server does for FATAL errors. Defaults to true
   * for 57P01-57P03 (shutdown, crash) and 53300 (too many connections).
   */
  close?: boolean
}

/** Hold matching statements back for `ms` before the server sees them. */
export interface DelayFaultSpec extends FaultCommon {
  type: 'delay'
  ms: number
}

/**
 * Let the matching statement (a COMMIT by default) run to completion on the server, then cut
 * the connection before the client sees the answer: committed, but the client cannot know.
 */
export interface AmbiguousCommitFaultSpec extends Omit<FaultCommon, 'match'> {
  type: 'ambiguous-commit'
  match?: StatementMatch
}

export type StatementFaultSpec = ErrorFaultSpec | DelayFaultSpec | AmbiguousCommitFaultSpec

const DEFAULT_MESSAGES: Record<string, string> = {
  '40001': 'could not serialize access due to concurrent update',
  '40P01': 'deadlock detected',
  '57P01': 'terminating connection due to administrator command',
  '57P02': 'terminating connection due to crash of another server process',
  '57P03': 'the database system is shutting down',
  '53300': 'sorry, too many clients already',
}
const FATAL_CODES = new Set(['57P01', '57P02', '57P03', '53300'])

/** What an ambiguous commit cuts when told nothing else. */
export const COMMIT_STATEMENT = /^\s*(commit|end)\b/i

let counter = 0

/** A fault in force on a proxy; `hits` counts the statements it acted on. */
export class StatementFault {
  readonly name: string
  hits = 0
  private readonly test: (sql: string) => boolean

  /** @internal */
  constructor(readonly spec: StatementFaultSpec) {
    this.name = spec.name ?? `${spec.type}_${++counter}`
    const match = spec.match ?? COMMIT_STATEMENT
    if (typeof match === 'string') {
      const wanted = normalize(match)
      this.test = (sql) => normalize(sql) === wanted
    } else if (match instanceof RegExp) {
      this.test = (sql) => {
        match.lastIndex = 0
        return match.test(sql)
      }
    } else this.test = match
    if (spec.probability !== undefined && !(spec.probability >= 0 && spec.probability <= 1)) {
      throw new PgrigError('E_USAGE', `probability ${spec.probability} is not between 0 and 1`)
    }
    if (spec.type === 'error' && !/^[0-9A-Z]{5}$/.test(spec.code)) {
      throw new PgrigError(
        'E_USAGE',
        `SQLSTATE ${JSON.stringify(spec.code)} is not five digits/capitals (e.g. 40001)`,
      )
    }
    if (spec.type === 'delay' && !(spec.ms >= 0)) {
      throw new PgrigError('E_USAGE', `delay ms ${spec.ms} is not a number of milliseconds >= 0`)
    }
  }

  get exhausted(): boolean {
    return this.spec.times !== undefined && this.hits >= this.spec.times
  }

  /** Decides (and counts) whether this fault acts on `sql`. */
  take(sql: string): boolean {
    if (this.exhausted || !this.test(sql)) return false
    if (this.spec.probability !== undefined && Math.random() >= this.spec.probability) return false
    this.hits++
    return true
  }

  get errorMessage(): string {
    const spec = this.spec as ErrorFaultSpec
    return spec.message ?? DEFAULT_MESSAGES[spec.code] ?? `error ${spec.code} injected by pgrig`
  }

  get closes(): boolean {
    const spec = this.spec as ErrorFaultSpec
    return spec.close ?? FATAL_CODES.has(spec.code)
  }
}

function normalize(sql: string): string {
  return sql.trim().replace(/;\s*$/, '').replace(/\s+/g, ' ').toLowerCase()
}
