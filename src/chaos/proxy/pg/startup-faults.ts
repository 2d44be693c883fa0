import { PgrigError } from '../../../errors.js'
import { encode, pgError } from '../../../pg-wire/index.js'

/**
 * Refuse new connections the way the server does when it cannot take them: a FATAL
 * ErrorResponse in answer to the StartupMessage, then the connection closes.
 */
export interface StartupFaultSpec {
  /** SQLSTATE of the FATAL error (default 53300, too many connections). */
  code?: string
  message?: string
  /** Refuse at most this many connections (default: every one). `1` = once. */
  times?: number
  /** Chance (0..1) to refuse a given connection (default 1). */
  probability?: number
  name?: string
}

/** PostgreSQL's own wording for the refusals a client meets at connection start. */
const STARTUP_MESSAGES: Record<string, string> = {
  '53300': 'sorry, too many clients already',
  '57P03': 'the database system is starting up',
}

export const DEFAULT_STARTUP_CODE = '53300'

let counter = 0

/** A refusal in force on a proxy; `hits` counts the connections it refused. */
export class StartupFault {
  readonly name: string
  hits = 0

  /** @internal */
  constructor(readonly spec: StartupFaultSpec) {
    this.name = spec.name ?? `refuse_${++counter}`
    if (!/^[0-9A-Z]{5}$/.test(this.code)) {
      throw new PgrigError(
        'E_USAGE',
        `SQLSTATE ${JSON.stringify(spec.code)} is not five digits/capitals (e.g. 53300)`,
      )
    }
    if (spec.probability !== undefined && !(spec.probability >= 0 && spec.probability <= 1)) {
      throw new PgrigError('E_USAGE', `probability ${spec.probability} is not between 0 and 1`)
    }
  }

  get code(): string {
    return this.spec.code ?? DEFAULT_STARTUP_CODE
  }

  get errorMessage(): string {
    return this.spec.message ?? STARTUP_MESSAGES[this.code] ?? `connection refused by pgrig (${this.code})`
  }

  get exhausted(): boolean {
    return this.spec.times !== undefined && this.hits >= this.spec.times
  }

  /** Decides (and counts) whether this fault refuses the connection being started. */
  take(): boolean {
    if (this.exhausted) return false
    if (this.spec.probability !== undefined && Math.random() >= this.spec.probability) return false
    this.hits++
    return true
  }

  /** The bytes the client gets instead of an authentication request. */
  answer(): Buffer {
    return encode.error(pgError(this.code, this.errorMessage, 'FATAL'))
  }
}
