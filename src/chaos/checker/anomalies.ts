import type { Key, Transaction, Value } from '../history/types.js'

export type DataCycleType = 'G0' | 'G1c' | 'G-single' | 'G2-item'
/**
 * `-process` / `-realtime`: the cycle exists only with process-order or real-time edges (a
 * transaction ordered before another because the same client ran it first, or because it
 * completed before the other began): data alone is serializable, but not in an order that
 * respects what clients observed.
 */
export type CycleAnomalyType = DataCycleType | `${DataCycleType}-process` | `${DataCycleType}-realtime`
export type AnomalyType =
  | CycleAnomalyType
  | 'G1a'
  | 'G1b'
  | 'lost-update'
  /** Two reads of one key that no single order of appends can explain. */
  | 'incompatible-order'
  /** A read returned the same appended value twice. */
  | 'duplicate-elements'
  /** A read returned a value nobody wrote. */
  | 'garbage-read'
  /** A transaction did not see its own earlier write. */
  | 'internal'

/**
 * Isolation levels as Adya defines them, plus snapshot isolation, which is what PostgreSQL's
 * REPEATABLE READ gives: it forbids G-single and lost updates but allows G2-item (write skew).
 */
export type IsolationLevel =
  | 'read-uncommitted'
  | 'read-committed'
  | 'snapshot-isolation'
  | 'repeatable-read'
  | 'serializable'
  /** Serializable in an order consistent with real time (and so with each client's own order). */
  | 'strict-serializable'

export const ISOLATION_LEVELS: readonly IsolationLevel[] = [
  'read-uncommitted',
  'read-committed',
  'snapshot-isolation',
  'repeatable-read',
  'serializable',
  'strict-serializable',
]

const ALL = ISOLATION_LEVELS
const ABOVE_READ_UNCOMMITTED = ALL.slice(1)
const ABOVE_READ_COMMITTED = ALL.slice(2)

const STRICT: readonly IsolationLevel[] = ['strict-serializable']

/** Which levels forbid each anomaly (Adya 2000; Berenson et al. 1995 for lost update). */
export const VIOLATES: Record<AnomalyType, readonly IsolationLevel[]> = {
  'G0-process': STRICT,
  'G0-realtime': STRICT,
  'G1c-process': STRICT,
  'G1c-realtime': STRICT,
  'G-single-process': STRICT,
  'G-single-realtime': STRICT,
  'G2-item-process': STRICT,
  'G2-item-realtime': STRICT,
  G0: ALL,
  G1a: ABOVE_READ_UNCOMMITTED,
  G1b: ABOVE_READ_UNCOMMITTED,
  G1c: ABOVE_READ_UNCOMMITTED,
  'G-single': ABOVE_READ_COMMITTED,
  'lost-update': ABOVE_READ_COMMITTED,
  'G2-item': ['repeatable-read', 'serializable', 'strict-serializable'],
  'incompatible-order': ALL,
  'duplicate-elements': ALL,
  'garbage-read': ALL,
  internal: ALL,
}

export interface CycleStep {
  from: number
  to: number
  /** `process`: same client, one after the other; `realtime`: completed before the other began. */
  type: 'ww' | 'wr' | 'rw' | 'process' | 'realtime'
  key: Key
}

export interface Anomaly {
  type: AnomalyType
  violates: readonly IsolationLevel[]
  /** One line a person can read: the cycle ("T12 —ww(x)→ T15 —rw(y)→ T12") or what was read. */
  description: string
  /** The transactions involved, as recorded. */
  transactions: readonly Transaction[]
  /** For cycle anomalies: the smallest cycle found, edge by edge. */
  cycle?: readonly CycleStep[]
  key?: Key
  value?: Value
}

export const txnName = (id: number): string => `T${id}`

export function formatCycle(cycle: readonly CycleStep[]): string {
  if (cycle.length === 0) return ''
  const label = (step: CycleStep): string =>
    step.type === 'process' || step.type === 'realtime' ? step.type : `${step.type}(${String(step.key)})`
  return txnName(cycle[0]!.from) + cycle.map((step) => ` —${label(step)}→ ${txnName(step.to)}`).join('')
}
