import { pgError, type ErrorFields } from '../../pg-wire/index.js'
import { classify, raising, splitStatements, type Statement } from './statements.js'

/** The savepoint an application transaction becomes. */
export const TX = 'pgrig_tx'
/** The savepoint each statement outside an application transaction runs under. */
export const STMT = 'pgrig_stmt'
export const USE_OTHER_MODE = "use isolation: 'database' or 'truncate' for this test"

/** A transaction status as ReadyForQuery reports it: idle, in a transaction block, failed. */
export type Status = 'I' | 'T' | 'E'

/** The answer to a transaction-control statement: its CommandComplete tag, or an error. */
export interface Answer {
  tag: string
  error?: ErrorFields
}

/**
 * What a transaction-control statement needs: an answer straight away, or SQL to run on the
 * session first, whose outcome (`null` or the server's error) gives the next step.
 */
export type Control = Answer | { sql: string; next: (error: ErrorFields | null) => Control }

/**
 * The test's transaction on the one server session, as a state machine without I/O: it decides
 * which SQL goes to the server (the test's BEGIN, savepoints standing for the clients' own
 * BEGIN/COMMIT/ROLLBACK, the savepoint around each statement outside them) and which client may
 * run statements. The caller runs the SQL and reports back; `Client` is whatever names a client.
 */
export class TestTransaction<Client> {
  private active = false
  /** The test's BEGIN is still to go out, with the first statement that needs it. */
  private pendingBegin = false
  /** The client whose application transaction is open (one at a time). */
  private owner: Client | null = null
  /** The statement savepoint exists (it is released and taken again for the next statement). */
  private statementSavepoint = false
  /** The transaction status the server last reported. */
  serverStatus: Status = 'I'

  get testActive(): boolean {
    return this.active
  }

  /** Starts a test (after `rollback()` of the one before, if `testActive`). */
  begin(): void {
    this.active = true
    this.pendingBegin = true
    this.owner = null
    this.statementSavepoint = false
  }

  /**
   * The SQL that rolls the test's transaction back, or null when its BEGIN never went out.
   * Session-level advisory locks survive ROLLBACK, so they are released too: the next test must
   * not inherit them.
   */
  rollback(): string | null {
    if (this.pendingBegin) {
      this.pendingBegin = false
      return null
    }
    return 'ROLLBACK; SELECT pg_advisory_unlock_all()'
  }

  /** Ends the test once `rollback()` ran; true when a client left its own transaction open. */
  end(): boolean {
    const leftOpen = this.owner !== null
    this.active = false
    this.owner = null
    this.statementSavepoint = false
    return leftOpen
  }

  /** The server dropped the session, and with it the test's transaction: nothing to undo. */
  lost(): void {
    this.active = false
    this.owner = null
  }

  /** A fresh session replaced the lost one: no test runs on it yet. */
  replaced(): void {
    this.active = false
    this.pendingBegin = false
  }

  /** Why `client` may not run a statement now, or null when it may. */
  refusal(client: Client): ErrorFields | null {
    if (!this.active) {
      return pgError(
        '25000',
        'pgrig transaction isolation: a query ran outside a test (at import time, in beforeAll/afterAll or after the test ended), where it would commit for real; run it inside the test or a beforeEach',
      )
    }
    if (this.owner !== null && this.owner !== client) {
      return pgError(
        '25000',
        `pgrig transaction isolation: a second connection ran a statement while another connection was inside a transaction; all connections share the test's one session, so it would see uncommitted rows; ${USE_OTHER_MODE}`,
      )
    }
    return null
  }

  /** The status `client` is told: the server's inside its own transaction, idle outside it. */
  status(client: Client): Status {
    return this.owner === client ? this.serverStatus : 'I'
  }

  /**
   * SQL to pipeline ahead of statements sent outside an application transaction (the test's
   * BEGIN if still due, and the statement savepoint); null inside one.
   */
  beforeStatements(): string | null {
    if (this.owner !== null) return null
    const savepoint = this.statementSavepoint
      ? `RELEASE SAVEPOINT ${STMT}; SAVEPOINT ${STMT}`
      : `SAVEPOINT ${STMT}`
    this.statementSavepoint = true
    return this.opening() + savepoint
  }

  /**
   * After statements ran: applies the transaction control among them (`effects`, as `rewrite`
   * gave them, of which `completed` ran when one `failed`), and returns the SQL that undoes a
   * failed statement outside an application transaction, as autocommit would.
   */
  afterStatements(
    client: Client,
    outcome: { effects: readonly Statement[]; failed: boolean; completed: number },
  ): string | null {
    const ran = outcome.failed ? outcome.effects.slice(0, outcome.completed) : outcome.effects
    for (const s of ran) {
      if (s.kind === 'begin') this.owner = client
      else if ((s.kind === 'commit' || s.kind === 'rollback') && !s.chain) this.owner = null
    }
    return outcome.failed && this.owner === null ? `ROLLBACK TO SAVEPOINT ${STMT}` : null
  }

  /**
   * Rewrites transaction control inside a multi-statement simple query, statement by statement;
   * `effects` lists what each statement is, for `afterStatements`.
   */
  rewrite(text: string): { text: string; effects: Statement[] } {
    let open = this.owner !== null
    const effects: Statement[] = []
    const out = splitStatements(text).map((sql) => {
      const s = classify(sql)
      effects.push(s)
      switch (s.kind) {
        case 'begin':
          if (open) return 'SELECT WHERE false'
          open = true
          return `SAVEPOINT ${TX}`
        case 'commit':
          if (!open) return s.chain ? chainOutside('COMMIT') : 'SELECT WHERE false'
          open = s.chain
          return s.chain ? `RELEASE SAVEPOINT ${TX}; SAVEPOINT ${TX}` : `RELEASE SAVEPOINT ${TX}`
        case 'rollback':
          if (!open) return s.chain ? chainOutside('ROLLBACK') : 'SELECT WHERE false'
          open = s.chain
          // Left in place rather than released, to keep one statement per statement.
          return `ROLLBACK TO SAVEPOINT ${TX}`
        case 'two-phase':
        case 'listen':
          return raising(`pgrig transaction isolation cannot run %; ${USE_OTHER_MODE}`, sql)
        default:
          return sql
      }
    })
    return { text: out.join(';\n'), effects }
  }

  /** A transaction-control statement `client` sent on its own, answered with savepoints behind it. */
  control(client: Client, s: Statement): Control {
    switch (s.kind) {
      case 'listen':
        return {
          tag: 'LISTEN',
          error: pgError(
            '0A000',
            `pgrig transaction isolation cannot LISTEN: notifications are delivered only when a transaction commits, and the test's transaction never does; ${USE_OTHER_MODE}`,
          ),
        }
      case 'two-phase':
        return {
          tag: 'PREPARE TRANSACTION',
          error: pgError(
            '0A000',
            `pgrig transaction isolation cannot run two-phase commit inside the test's transaction; ${USE_OTHER_MODE}`,
          ),
        }
      case 'begin': {
        if (s.unsupportedMode !== null) {
          return {
            tag: 'BEGIN',
            error: pgError(
              '0A000',
              `pgrig transaction isolation turns BEGIN into a savepoint of the test's transaction, which cannot take its own "${s.unsupportedMode}"; use isolation: 'database' for this test`,
            ),
          }
        }
        if (this.owner === client) return { tag: 'BEGIN' }
        return {
          sql: `${this.opening()}SAVEPOINT ${TX}`,
          next: (error) => {
            if (!error) this.owner = client
            return answer('BEGIN', error)
          },
        }
      }
      case 'commit':
      case 'rollback': {
        if (this.owner !== client) {
          const tag = s.kind.toUpperCase()
          // As PostgreSQL: a plain COMMIT outside a transaction only warns; AND CHAIN is an error.
          return s.chain ? { tag, error: pgError('25P01', chainOutsideMessage(tag)) } : { tag }
        }
        // COMMIT of a failed transaction rolls back, and says so, as PostgreSQL does.
        const rollsBack = s.kind === 'rollback' || this.serverStatus === 'E'
        const tag = rollsBack ? 'ROLLBACK' : 'COMMIT'
        return {
          sql: rollsBack ? `ROLLBACK TO SAVEPOINT ${TX}; RELEASE SAVEPOINT ${TX}` : `RELEASE SAVEPOINT ${TX}`,
          next: (error) => {
            if (error) return answer('ROLLBACK', error)
            this.owner = null
            return s.chain ? retag(this.control(client, BEGIN), tag) : { tag }
          },
        }
      }
      default:
        return { tag: '' }
    }
  }

  /**
   * A client that disconnects inside its transaction gets it rolled back, as PostgreSQL does:
   * the SQL for that, or null.
   */
  gone(client: Client): string | null {
    if (this.owner !== client) return null
    this.owner = null
    return `ROLLBACK TO SAVEPOINT ${TX}; RELEASE SAVEPOINT ${TX}`
  }

  /** The test's BEGIN, sent ahead of the first statement that needs the transaction. */
  private opening(): string {
    if (!this.pendingBegin) return ''
    this.pendingBegin = false
    return 'BEGIN; '
  }
}

const BEGIN: Statement = { kind: 'begin', unsupportedMode: null }

function answer(tag: string, error: ErrorFields | null): Answer {
  return error ? { tag, error } : { tag }
}

/** The same steps, with the final answer's tag replaced. */
function retag(control: Control, tag: string): Control {
  if ('sql' in control) return { sql: control.sql, next: (error) => retag(control.next(error), tag) }
  return { ...control, tag }
}

function chainOutsideMessage(kind: string): string {
  return `${kind} AND CHAIN can only be used in transaction blocks`
}

/** SQL that fails as PostgreSQL does for `COMMIT/ROLLBACK AND CHAIN` outside a transaction block. */
function chainOutside(kind: 'COMMIT' | 'ROLLBACK'): string {
  return `DO $pgrig$BEGIN RAISE EXCEPTION USING ERRCODE = '25P01', MESSAGE = '${chainOutsideMessage(kind)}'; END$pgrig$`
}
