import { PgrigError } from '../../errors.js'
import { toTransactions } from '../history/transactions.js'
import type { History } from '../history/types.js'
import { type Anomaly, type AnomalyType, ISOLATION_LEVELS, type IsolationLevel } from './anomalies.js'
import { findCycles } from './cycles.js'
import { PROCESS, REALTIME, freeze } from './graph.js'
import { addProcessOrder, addRealtimeOrder } from './order.js'
import { analyzeListAppend } from './list-append.js'
import { analyzeRwRegister } from './rw-register.js'

export type WorkloadModel = 'list-append' | 'rw-register'

export interface CheckOptions {
  model: WorkloadModel
  /**
   * Judge `valid` against this level: only anomalies it forbids count. Without it, any anomaly
   * makes the history invalid. PostgreSQL's REPEATABLE READ is `'snapshot-isolation'`.
   */
  isolation?: IsolationLevel
  /** Also order each process's transactions (a client runs one after another): finds `<class>-process` cycles. */
  processOrder?: boolean
  /** Also order T1 before T2 when T1 completed before T2 began: finds `<class>-realtime` cycles. */
  realtime?: boolean
  /** Breadth-first-search node visits allowed per anomaly class per component (default 1,000,000). */
  searchBudget?: number
}

export interface CheckResult {
  valid: boolean
  model: WorkloadModel
  isolation: IsolationLevel | undefined
  transactions: { total: number; ok: number; fail: number; info: number }
  /** Every finding, including those `isolation` allows. */
  anomalies: Anomaly[]
  anomalyTypes: AnomalyType[]
  /** Every level at least one finding violates. */
  violates: IsolationLevel[]
  graph: { edges: number; cyclicComponents: number; searchComplete: boolean }
}

/** Checks a recorded history for isolation anomalies (Elle's approach, without a JVM). */
export function check(history: History, options: CheckOptions): CheckResult {
  if (options.model !== 'list-append' && options.model !== 'rw-register') {
    throw new PgrigError(
      'E_USAGE',
      `Unknown model ${JSON.stringify(options.model)}; use 'list-append' or 'rw-register'.`,
    )
  }
  if (options.isolation !== undefined && !ISOLATION_LEVELS.includes(options.isolation)) {
    throw new PgrigError(
      'E_USAGE',
      `Unknown isolation level ${JSON.stringify(options.isolation)}; use one of ${ISOLATION_LEVELS.join(', ')}.`,
    )
  }
  const txns = toTransactions(history)
  const analysis = options.model === 'list-append' ? analyzeListAppend(txns) : analyzeRwRegister(txns)
  let orderKinds = 0
  if (options.processOrder) {
    addProcessOrder(txns, analysis.edges)
    orderKinds |= PROCESS
  }
  if (options.realtime) {
    addRealtimeOrder(history, txns, analysis.edges)
    orderKinds |= REALTIME
  }
  const graph = freeze(txns.length, analysis.edges)
  const cycles = findCycles(graph, txns, options.searchBudget ?? 1_000_000, orderKinds)
  const anomalies = [...analysis.anomalies, ...cycles.anomalies]
  const counts = { total: txns.length, ok: 0, fail: 0, info: 0 }
  for (const t of txns) counts[t.outcome]++
  const types = new Set(anomalies.map((a) => a.type))
  const violated = new Set(anomalies.flatMap((a) => a.violates))
  const isolation = options.isolation
  return {
    valid: isolation === undefined ? anomalies.length === 0 : !violated.has(isolation),
    model: options.model,
    isolation,
    transactions: counts,
    anomalies,
    anomalyTypes: [...types],
    violates: ISOLATION_LEVELS.filter((level) => violated.has(level)),
    graph: {
      edges: analysis.edges.size,
      cyclicComponents: cycles.cyclicComponents,
      searchComplete: cycles.complete,
    },
  }
}

/**
 * Which levels a finding violates, worded so a PostgreSQL user is not misled: Adya's repeatable read
 * (PL-2.99) forbids G2-item, but PostgreSQL's REPEATABLE READ is snapshot isolation, which allows it.
 */
function levelsNote(violates: readonly IsolationLevel[], judged: IsolationLevel | undefined): string {
  const named = violates.map((level) =>
    level === 'repeatable-read'
      ? "repeatable-read in Adya's sense (PL-2.99, stricter than PostgreSQL's)"
      : level,
  )
  const notes = [`violates ${named.join(', ')}`]
  if (violates.includes('repeatable-read') && !violates.includes('snapshot-isolation')) {
    notes.push("allowed by snapshot-isolation, which is what PostgreSQL's REPEATABLE READ gives")
  }
  if (judged !== undefined && !violates.includes(judged))
    notes.unshift(`allowed at ${judged}, the level judged`)
  return notes.join('; ')
}

/** The result as lines a person reads in a test failure: counts, then one line per finding. */
export function formatCheckResult(result: CheckResult): string {
  const { total, ok, fail, info } = result.transactions
  const against = result.isolation ? ` against ${result.isolation}` : ''
  const lines = [
    `${result.valid ? 'valid' : 'INVALID'}${against}: ${total} transactions (${ok} ok, ${fail} failed, ${info} unknown), ${result.anomalies.length} finding(s)`,
  ]
  for (const a of result.anomalies)
    lines.push(`  ${a.type}: ${a.description}  [${levelsNote(a.violates, result.isolation)}]`)
  if (!result.graph.searchComplete)
    lines.push('  (cycle search budget exhausted: some cycles may be missing)')
  return lines.join('\n')
}
