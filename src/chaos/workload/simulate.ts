import type { WorkloadModel } from '../checker/check.js'
import type { HistoryEvent, Key, MicroOp, Value } from '../history/types.js'
import { TransactionGenerator, seededRandom } from './generator.js'

export interface SimulationOptions {
  model: WorkloadModel
  transactions: number
  /** `serializable`: each transaction takes effect atomically when it completes. `snapshot-isolation`:
   * reads see the snapshot taken at invocation, first committer wins on write conflicts. */
  isolation: 'serializable' | 'snapshot-isolation'
  processes?: number
  keys?: number
  seed?: number
}

type Stored = readonly Value[] | Value

/**
 * An in-memory database that produces histories with known properties, for the checker's
 * benchmark and for tests that need thousands of transactions without a server.
 */
export function simulateHistory(options: SimulationOptions): HistoryEvent[] {
  const random = seededRandom(options.seed ?? 1)
  const processes = options.processes ?? 10
  const generator = new TransactionGenerator({
    keys: options.keys ?? 20,
    distribution: 'uniform',
    maxOpsPerTransaction: 4,
    maxWritesPerKey: 32,
    random,
  })
  const versions = new Map<Key, { seq: number; value: Stored }[]>()
  let seq = 0
  const readAt = (key: Key, at: number): Stored | undefined => {
    const list = versions.get(key)
    if (!list) return undefined
    for (let i = list.length - 1; i >= 0; i--) if (list[i]!.seq <= at) return list[i]!.value
    return undefined
  }
  const running: ({ ops: MicroOp[]; snapshot: number } | undefined)[] = new Array(processes).fill(undefined)
  const events: HistoryEvent[] = []
  let started = 0
  let time = 0
  while (started < options.transactions || running.some(Boolean)) {
    const p = Math.floor(random() * processes)
    const txn = running[p]
    if (!txn) {
      if (started >= options.transactions) continue
      started++
      const ops = options.model === 'list-append' ? generator.listAppend() : generator.register()
      running[p] = { ops, snapshot: seq }
      events.push({ type: 'invoke', process: p, time: time++, value: ops })
      continue
    }
    running[p] = undefined
    const at = options.isolation === 'serializable' ? seq : txn.snapshot
    const written = new Map<Key, Stored>()
    const completed: MicroOp[] = txn.ops.map((op) => {
      const key = op[1]
      const current = written.has(key) ? written.get(key) : readAt(key, at)
      if (op[0] === 'r') {
        return [
          'r',
          key,
          options.model === 'list-append' ? ((current as Value[] | undefined) ?? []) : (current ?? null),
        ]
      }
      written.set(key, op[0] === 'append' ? [...((current as Value[] | undefined) ?? []), op[2]] : op[2])
      return op
    })
    const conflict =
      options.isolation === 'snapshot-isolation' &&
      [...written.keys()].some((key) => (versions.get(key)?.at(-1)?.seq ?? 0) > txn.snapshot)
    if (conflict) {
      events.push({ type: 'fail', process: p, time: time++, value: txn.ops, error: '40001' })
      continue
    }
    seq++
    for (const [key, value] of written) {
      const list = versions.get(key)
      if (list) list.push({ seq, value })
      else versions.set(key, [{ seq, value }])
    }
    events.push({ type: 'ok', process: p, time: time++, value: completed })
  }
  return events
}
