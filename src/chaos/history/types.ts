/** A key of the workload's key space. */
export type Key = string | number
/** A written or appended value. Values must be unique per key, so a read names its writer. */
export type Value = string | number

/** Append `value` to the list at `key` (list-append workload). */
export type AppendOp = readonly ['append', Key, Value]
/** Overwrite the register at `key` with `value` (read-write register workload). */
export type WriteOp = readonly ['w', Key, Value]
/**
 * Read `key`. List-append: the whole list (`null` or `[]` when never appended). Register: the
 * value (`null` when never written). In an invocation the result is not known yet: `null`.
 */
export type ReadOp = readonly ['r', Key, readonly Value[] | Value | null]
export type MicroOp = AppendOp | WriteOp | ReadOp

/**
 * What became of an operation: `ok` committed, `fail` certainly did not take effect (aborted),
 * `info` unknown (the connection died around COMMIT, a timeout): it may or may not have committed.
 */
export type Outcome = 'ok' | 'fail' | 'info'

/** One line of a history: an invocation, or the completion of the same process's open invocation. */
export interface HistoryEvent {
  type: 'invoke' | Outcome
  /** The client that ran it; a process runs one transaction at a time. */
  process: number
  /** Milliseconds (any monotonic clock; `performance.now()` is what the recorder uses). */
  time: number
  /** Micro-ops. On `ok`, reads carry what they returned. */
  value: readonly MicroOp[]
  /** Why it failed or is ambiguous (an error message or SQLSTATE), for the report. */
  error?: string
}

export type History = readonly HistoryEvent[]

/** An invocation paired with its completion: the unit the checker reasons about. */
export interface Transaction {
  /** Position among transactions in invocation order; shown as `T<id>`. */
  id: number
  process: number
  outcome: Outcome
  /** Completed micro-ops for `ok`; the invoked ones otherwise (reads unknown). */
  ops: readonly MicroOp[]
  invokeTime: number
  completeTime: number | undefined
  /** Index of the invocation event in the history. */
  index: number
  error?: string
}

export const append = (key: Key, value: Value): AppendOp => ['append', key, value]
export const write = (key: Key, value: Value): WriteOp => ['w', key, value]
export const read = (key: Key, result: readonly Value[] | Value | null = null): ReadOp => ['r', key, result]
