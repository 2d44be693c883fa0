import { PgrigError } from '../../errors.js'
import type { Key, MicroOp, Transaction, Value } from '../history/types.js'
import { type Anomaly, VIOLATES, txnName } from './anomalies.js'
import { EdgeList, RW, WR, WW } from './graph.js'
import type { Analysis } from './list-append.js'

/** The version every key has before its first write. */
const INITIAL = Symbol('initial')
type Version = Value | typeof INITIAL

interface Writer {
  txn: Transaction
  final: boolean
}

interface KeyState {
  writers: Map<Value, Writer>
  /** External reads: what a transaction saw before writing the key itself. */
  reads: { txn: Transaction; version: Version }[]
  /** Known direct successions: a transaction read `from` and then installed `to`. */
  successors: Map<Version, { to: Value; txn: Transaction }[]>
  /** Writes whose predecessor is unknown (no read before them): only known to follow INITIAL. */
  blind: Transaction[]
}

const show = (v: Version): string => (v === INITIAL ? 'nil' : JSON.stringify(v))

/**
 * Read-write registers: a read names its writer (values are unique per key), so wr edges are
 * exact. Version order is only recoverable where a transaction read a version and then wrote
 * the key (the read version directly precedes the written one), which is exactly the shape of
 * lost updates and write skew; blind writes are only known to follow the initial state.
 */
export function analyzeRwRegister(txns: readonly Transaction[]): Analysis {
  const keys = new Map<Key, KeyState>()
  const anomalies: Anomaly[] = []
  const state = (key: Key): KeyState => {
    let s = keys.get(key)
    if (!s) keys.set(key, (s = { writers: new Map(), reads: [], successors: new Map(), blind: [] }))
    return s
  }

  // Transactions hold a handful of ops, so scanning them beats allocating maps per transaction.
  for (const txn of txns) {
    const ops = txn.ops
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!
      const key = op[1]
      if (op[0] === 'w') {
        const s = state(key)
        const existing = s.writers.get(op[2])
        if (existing) {
          throw new PgrigError(
            'E_HISTORY_INVALID',
            `${txnName(existing.txn.id)} and ${txnName(txn.id)} both wrote ${JSON.stringify(op[2])} to ${String(key)}; the checker needs every written value to be unique per key.`,
          )
        }
        const final = findOp(ops, i + 1, ops.length, 'w', key) === -1
        s.writers.set(op[2], { txn, final })
        if (!final) continue
        // The last write is the version this transaction installs; what it read first is its predecessor.
        const firstWrite = findOp(ops, 0, i + 1, 'w', key)
        const readAt = txn.outcome === 'ok' ? findOp(ops, 0, firstWrite, 'r', key) : -1
        if (readAt === -1) {
          s.blind.push(txn)
          continue
        }
        const from = ((ops[readAt]![2] as Value | null) ?? INITIAL) as Version
        const list = s.successors.get(from)
        if (list) list.push({ to: op[2], txn })
        else s.successors.set(from, [{ to: op[2], txn }])
      } else if (op[0] === 'r' && txn.outcome === 'ok') {
        const value = op[2]
        if (Array.isArray(value)) {
          throw new PgrigError(
            'E_HISTORY_INVALID',
            `${txnName(txn.id)} read key ${String(key)} as a list; check the history with model 'list-append'.`,
          )
        }
        const ownAt = findLastOp(ops, i, 'w', key)
        if (ownAt !== -1) {
          const own = ops[ownAt]![2] as Value
          if (value !== own) {
            anomalies.push({
              type: 'internal',
              violates: VIOLATES.internal,
              description: `${txnName(txn.id)} wrote ${JSON.stringify(own)} to ${String(key)} but then read ${show((value ?? INITIAL) as Version)}`,
              transactions: [txn],
              key,
            })
          }
        } else if (findOp(ops, 0, i, 'r', key) === -1) {
          state(key).reads.push({ txn, version: (value ?? INITIAL) as Version })
        }
      }
    }
  }

  const edges = new EdgeList()
  for (const [key, s] of keys) checkKey(key, s, edges, anomalies)
  return { edges, anomalies }
}

function checkKey(key: Key, s: KeyState, edges: EdgeList, anomalies: Anomaly[]): void {
  const live = (t: Transaction): boolean => t.outcome !== 'fail'
  for (const { txn, version } of s.reads) {
    if (version === INITIAL) continue
    const writer = s.writers.get(version)
    if (!writer) {
      anomalies.push({
        type: 'garbage-read',
        violates: VIOLATES['garbage-read'],
        description: `${txnName(txn.id)} read ${String(key)} = ${show(version)}, which no transaction wrote`,
        transactions: [txn],
        key,
        value: version,
      })
    } else if (!live(writer.txn)) {
      anomalies.push({
        type: 'G1a',
        violates: VIOLATES.G1a,
        description: `${txnName(txn.id)} read ${String(key)} = ${show(version)}, written by ${txnName(writer.txn.id)} which aborted`,
        transactions: [txn, writer.txn],
        key,
        value: version,
      })
    } else {
      if (!writer.final) {
        anomalies.push({
          type: 'G1b',
          violates: VIOLATES.G1b,
          description: `${txnName(txn.id)} read ${String(key)} = ${show(version)}, an intermediate write of ${txnName(writer.txn.id)}`,
          transactions: [txn, writer.txn],
          key,
          value: version,
        })
      }
      edges.add(writer.txn.id, txn.id, WR, key)
    }
  }

  for (const [from, nexts] of s.successors) {
    const previous = from === INITIAL ? undefined : s.writers.get(from)
    const writers = nexts.filter((n) => live(n.txn))
    if (previous && live(previous.txn)) for (const n of writers) edges.add(previous.txn.id, n.txn.id, WW, key)
    if (writers.length > 1) {
      anomalies.push({
        type: 'lost-update',
        violates: VIOLATES['lost-update'],
        description: `${writers.map((n) => txnName(n.txn.id)).join(', ')} all read ${String(key)} = ${show(from)} and then wrote ${writers.map((n) => JSON.stringify(n.to)).join(', ')}`,
        transactions: writers.map((n) => n.txn),
        key,
        value: from === INITIAL ? undefined : from,
      })
    }
  }

  for (const { txn, version } of s.reads) {
    const nexts = s.successors.get(version)
    if (nexts) for (const n of nexts) if (live(n.txn)) edges.add(txn.id, n.txn.id, RW, key)
    // Anything written at all follows the initial state; a blind write is the only kind whose
    // place is otherwise unknown, so a reader of nil anti-depends on it too.
    if (version === INITIAL) for (const t of s.blind) if (live(t)) edges.add(txn.id, t.id, RW, key)
  }
}

function findOp(ops: readonly MicroOp[], from: number, to: number, f: 'r' | 'w', key: Key): number {
  for (let j = from; j < to; j++) if (ops[j]![0] === f && ops[j]![1] === key) return j
  return -1
}

function findLastOp(ops: readonly MicroOp[], before: number, f: 'r' | 'w', key: Key): number {
  for (let j = before - 1; j >= 0; j--) if (ops[j]![0] === f && ops[j]![1] === key) return j
  return -1
}
