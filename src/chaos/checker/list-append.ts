import { PgrigError } from '../../errors.js'
import type { Key, MicroOp, Transaction, Value } from '../history/types.js'
import { type Anomaly, VIOLATES, txnName } from './anomalies.js'
import { EdgeList, RW, WR, WW } from './graph.js'

interface Writer {
  txn: Transaction
  /** The transaction's last append to this key (an earlier one is an intermediate state). */
  final: boolean
}

interface Read {
  txn: Transaction
  key: Key
  list: readonly Value[]
  /** Read before the transaction appended to the key itself, so it shows others' state only. */
  external: boolean
  /** The transaction appended to the key after this external read (a read-modify-write). */
  thenAppended: boolean
}

interface KeyState {
  writers: Map<Value, Writer>
  reads: Read[]
  longest: readonly Value[]
}

export interface Analysis {
  edges: EdgeList
  anomalies: Anomaly[]
}

/**
 * List-append: every read returns a whole list, so the longest read of a key reveals the
 * order its appends were installed in (if every other read is a prefix of it). ww edges follow
 * that order, wr edges go from the writer of a read's last element, rw edges from a reader to
 * the writer of the element just past what it saw.
 */
export function analyzeListAppend(txns: readonly Transaction[]): Analysis {
  const keys = new Map<Key, KeyState>()
  const anomalies: Anomaly[] = []
  const state = (key: Key): KeyState => {
    let s = keys.get(key)
    if (!s) keys.set(key, (s = { writers: new Map(), reads: [], longest: [] }))
    return s
  }

  // Transactions hold a handful of ops, so scanning them beats allocating maps per transaction.
  for (const txn of txns) {
    const ops = txn.ops
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!
      const key = op[1]
      if (op[0] === 'append') {
        const s = state(key)
        const existing = s.writers.get(op[2])
        if (existing) throw duplicateAppend(key, op[2], existing.txn, txn)
        s.writers.set(op[2], { txn, final: !appendsAfter(ops, i, key) })
      } else if (op[0] === 'r' && txn.outcome === 'ok') {
        const value = op[2]
        if (value !== null && !Array.isArray(value)) {
          throw new PgrigError(
            'E_HISTORY_INVALID',
            `${txnName(txn.id)} read key ${String(key)} as ${JSON.stringify(value)}, not a list; check the history with model 'rw-register' or record list reads as arrays.`,
          )
        }
        const list = (value ?? []) as readonly Value[]
        const own = appendsBefore(ops, i, key)
        const s = state(key)
        if (own && !endsWith(list, own)) {
          anomalies.push({
            type: 'internal',
            violates: VIOLATES.internal,
            description: `${txnName(txn.id)} appended ${JSON.stringify(own)} to ${String(key)} but then read ${JSON.stringify(list)}`,
            transactions: [txn],
            key,
          })
        }
        // Only the first read before the append is the version a read-modify-write built on.
        const external = !own
        const thenAppended = external && !readsBefore(ops, i, key) && appendsAfter(ops, i, key)
        s.reads.push({ txn, key, list, external, thenAppended })
        if (list.length > s.longest.length) s.longest = list
      }
    }
  }

  const edges = new EdgeList()
  for (const [key, s] of keys) checkKey(key, s, edges, anomalies)
  return { edges, anomalies }
}

function checkKey(key: Key, s: KeyState, edges: EdgeList, anomalies: Anomaly[]): void {
  const { longest, writers } = s
  const seen = new Set<Value>()
  let consistent = true
  for (let i = 0; i < longest.length; i++) {
    const value = longest[i]!
    if (seen.has(value)) {
      consistent = false
      anomalies.push({
        type: 'duplicate-elements',
        violates: VIOLATES['duplicate-elements'],
        description: `a read of ${String(key)} returned ${JSON.stringify(value)} twice: ${JSON.stringify(longest)}`,
        transactions: s.reads.filter((r) => r.list === longest).map((r) => r.txn),
        key,
        value,
      })
      break
    }
    seen.add(value)
  }

  // Elements of the longest read are checked once; every consistent read is a prefix of it.
  for (let i = 0; i < longest.length; i++) {
    const value = longest[i]!
    const writer = writers.get(value)
    if (writer && writer.txn.outcome !== 'fail') continue
    const reader = s.reads.find((r) => r.list.length > i && r.list[i] === value)!.txn
    if (!writer) {
      anomalies.push({
        type: 'garbage-read',
        violates: VIOLATES['garbage-read'],
        description: `${txnName(reader.id)} read ${JSON.stringify(value)} in ${String(key)}, which no transaction appended`,
        transactions: [reader],
        key,
        value,
      })
    } else {
      anomalies.push({
        type: 'G1a',
        violates: VIOLATES.G1a,
        description: `${txnName(reader.id)} read ${JSON.stringify(value)} in ${String(key)}, appended by ${txnName(writer.txn.id)} which aborted`,
        transactions: [reader, writer.txn],
        key,
        value,
      })
    }
  }

  for (let i = 1; i < longest.length; i++) {
    const a = writers.get(longest[i - 1]!)
    const b = writers.get(longest[i]!)
    if (a && b && a.txn.outcome !== 'fail' && b.txn.outcome !== 'fail') edges.add(a.txn.id, b.txn.id, WW, key)
  }

  const lostUpdates = new Map<number, Transaction[]>()
  for (const r of s.reads) {
    const { list, txn } = r
    if (list !== longest && !isPrefix(list, longest)) {
      if (consistent) {
        anomalies.push({
          type: 'incompatible-order',
          violates: VIOLATES['incompatible-order'],
          description: `reads of ${String(key)} disagree on the order of appends: ${txnName(txn.id)} read ${JSON.stringify(list)}, another read ${JSON.stringify(longest)}`,
          transactions: [txn, ...s.reads.filter((x) => x.list === longest).map((x) => x.txn)],
          key,
        })
      }
      consistent = false
      continue
    }
    if (list.length > 0) {
      const last = writers.get(list[list.length - 1]!)
      if (last && last.txn !== txn) {
        if (!last.final && last.txn.outcome !== 'fail') {
          anomalies.push({
            type: 'G1b',
            violates: VIOLATES.G1b,
            description: `${txnName(txn.id)} read ${String(key)} = ${JSON.stringify(list)}, ending in an intermediate append of ${txnName(last.txn.id)}`,
            transactions: [txn, last.txn],
            key,
            value: list[list.length - 1]!,
          })
        }
        if (r.external && last.txn.outcome !== 'fail') edges.add(last.txn.id, txn.id, WR, key)
      }
    }
    if (r.external && list.length < longest.length) {
      const next = writers.get(longest[list.length]!)
      // Past an intermediate append lies the same writer's next one: that is G1b, not an anti-dependency.
      const sameWriter = list.length > 0 && writers.get(list[list.length - 1]!)?.txn === next?.txn
      if (next && next.txn.outcome !== 'fail' && !sameWriter) edges.add(txn.id, next.txn.id, RW, key)
    }
    if (r.external && r.thenAppended) {
      const group = lostUpdates.get(list.length)
      if (group) group.push(txn)
      else lostUpdates.set(list.length, [txn])
    }
  }
  for (const [length, group] of lostUpdates) {
    if (group.length < 2) continue
    anomalies.push({
      type: 'lost-update',
      violates: VIOLATES['lost-update'],
      description: `${group.map((t) => txnName(t.id)).join(', ')} all read ${String(key)} = ${JSON.stringify(longest.slice(0, length))} and then appended to it`,
      transactions: group,
      key,
    })
  }
}

function isPrefix(list: readonly Value[], of: readonly Value[]): boolean {
  if (list.length > of.length) return false
  for (let i = 0; i < list.length; i++) if (list[i] !== of[i]) return false
  return true
}

function endsWith(list: readonly Value[], suffix: readonly Value[]): boolean {
  if (suffix.length > list.length) return false
  const offset = list.length - suffix.length
  for (let i = 0; i < suffix.length; i++) if (list[offset + i] !== suffix[i]) return false
  return true
}

function duplicateAppend(key: Key, value: Value, first: Transaction, second: Transaction): PgrigError {
  return new PgrigError(
    'E_HISTORY_INVALID',
    `${txnName(first.id)} and ${txnName(second.id)} both appended ${JSON.stringify(value)} to ${String(key)}; the checker needs every appended value to be unique per key.`,
  )
}

function appendsAfter(ops: readonly MicroOp[], i: number, key: Key): boolean {
  for (let j = i + 1; j < ops.length; j++) if (ops[j]![0] === 'append' && ops[j]![1] === key) return true
  return false
}

function readsBefore(ops: readonly MicroOp[], i: number, key: Key): boolean {
  for (let j = 0; j < i; j++) if (ops[j]![0] === 'r' && ops[j]![1] === key) return true
  return false
}

/** The transaction's own appends to `key` before op `i`, or undefined if none. */
function appendsBefore(ops: readonly MicroOp[], i: number, key: Key): Value[] | undefined {
  let own: Value[] | undefined
  for (let j = 0; j < i; j++) {
    const op = ops[j]!
    if (op[0] === 'append' && op[1] === key) (own ??= []).push(op[2])
  }
  return own
}
