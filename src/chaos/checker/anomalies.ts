import type { Key, Transaction, Value } from '../history/types.js'

export type CycleAnomalyType = 'G0' | 'G1c' | 'G-single' | 'G2-item'
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
  'read-uncommitted' | 'read-committed' | 'snapshot-isolation' | 'repeatable-read' | 'serializable'

export const ISOLATION_LEVELS: readonly IsolationLevel[] = [
  'read-uncommitted',
  'read-committed',
  'snapshot-isolation',
  'repeatable-read',
  'serializable',
]

const ALL = ISOLATION_LEVELS
const ABOVE_READ_UNCOMMITTED = ALL.slice(1)
const ABOVE_READ_COMMITTED = ALL.slice(2)

/** Which levels forbid each anomaly (Adya 2000; Berenson et al. 1995 for lost update). */
export const VIOLATES: Record<AnomalyType, readonly IsolationLevel[]> = {
  G0: ALL,
  G1a: ABOVE_READ_UNCOMMITTED,
  G1b: ABOVE_READ_UNCOMMITTED,
  G1c: ABOVE_READ_UNCOMMITTED,
  'G-single': ABOVE_READ_COMMITTED,
  'lost-update': ABOVE_READ_COMMITTED,
  'G2-item': ['repeatable-read', 'serializable'],
  'incompatible-order': ALL,
  'duplicate-elements': ALL,
  'garbage-read': ALL,
  internal: ALL,
}

export interface CycleStep {
  from: number
  to: number
  type: 'ww' | 'wr' | 'rw'
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
  return (
    txnName(cycle[0]!.from) +
    cycle.map((step) => ` —${step.type}(${String(step.key)})→ ${txnName(step.to)}`).join('')
  )
}
