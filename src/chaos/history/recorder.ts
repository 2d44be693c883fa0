import { describeError, outcomeOfError } from './outcome.js'
import type { History, HistoryEvent, MicroOp, Outcome } from './types.js'

/** An invocation waiting for its outcome; complete it exactly once. */
export interface PendingTransaction {
  /** Committed; `completed` are the micro-ops with what the reads returned. */
  ok(completed: readonly MicroOp[]): void
  /** Certainly not committed. */
  fail(error?: unknown): void
  /** Outcome unknown (e.g. the connection died during COMMIT). */
  info(error?: unknown): void
}

/**
 * Collects a history from the user's own code: `invoke` before a transaction starts, then
 * `ok`/`fail`/`info` when it ends. Timestamps come from `performance.now()`.
 */
export class HistoryRecorder {
  readonly #events: HistoryEvent[] = []

  get history(): History {
    return this.#events
  }

  invoke(process: number, ops: readonly MicroOp[]): PendingTransaction {
    this.#events.push({ type: 'invoke', process, time: performance.now(), value: ops })
    let done = false
    const complete = (type: Outcome, value: readonly MicroOp[], error?: unknown): void => {
      if (done) throw new Error(`transaction of process ${process} was already completed`)
      done = true
      const event: HistoryEvent = { type, process, time: performance.now(), value }
      if (error !== undefined) event.error = describeError(error)
      this.#events.push(event)
    }
    return {
      ok: (completed) => complete('ok', completed),
      fail: (error) => complete('fail', ops, error),
      info: (error) => complete('info', ops, error),
    }
  }

  /**
   * Runs `body` as one recorded transaction: what it returns is the completed micro-ops; if it
   * throws, the error decides between `fail` (PostgreSQL certainly rolled back: SQLSTATE
   * classes 22, 23, 25, 40, 42, 44) and `info` (anything else), and is rethrown.
   */
  async record(
    process: number,
    ops: readonly MicroOp[],
    body: (ops: readonly MicroOp[]) => Promise<readonly MicroOp[]>,
  ): Promise<readonly MicroOp[]> {
    const pending = this.invoke(process, ops)
    try {
      const completed = await body(ops)
      pending.ok(completed)
      return completed
    } catch (error) {
      if (outcomeOfError(error) === 'fail') pending.fail(error)
      else pending.info(error)
      throw error
    }
  }
}
