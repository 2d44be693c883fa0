import type { History, Transaction } from '../history/types.js'
import { type EdgeList, PROCESS, REALTIME } from './graph.js'

/** Each client's committed transactions, one after the other. */
export function addProcessOrder(txns: readonly Transaction[], edges: EdgeList): void {
  const last = new Map<number, number>()
  for (const t of txns) {
    if (t.outcome !== 'ok') continue
    const previous = last.get(t.process)
    if (previous !== undefined) edges.add(previous, t.id, PROCESS, '')
    last.set(t.process, t.id)
  }
}

/**
 * T1 → T2 when T1 completed (ok) before T2 was invoked, in history order. Only the frontier
 * (completions not already implied through a later one) gets edges, so their number stays
 * proportional to concurrency rather than quadratic.
 */
export function addRealtimeOrder(history: History, txns: readonly Transaction[], edges: EdgeList): void {
  const invokedAt = new Map<number, Transaction>()
  for (const t of txns) invokedAt.set(t.index, t)
  const open = new Map<number, Transaction>()
  const predecessors = new Map<number, number[]>()
  let frontier: number[] = []
  for (let i = 0; i < history.length; i++) {
    const event = history[i]!
    if (event.type === 'invoke') {
      const t = invokedAt.get(i)!
      open.set(t.process, t)
      if (t.outcome === 'fail') continue
      predecessors.set(t.id, frontier)
      for (const f of frontier) edges.add(f, t.id, REALTIME, '')
      continue
    }
    const t = open.get(event.process)
    open.delete(event.process)
    if (!t || event.type !== 'ok') continue
    const implied = new Set(predecessors.get(t.id))
    frontier = frontier.filter((f) => !implied.has(f))
    frontier.push(t.id)
  }
}
