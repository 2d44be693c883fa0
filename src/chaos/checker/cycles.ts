import type { Transaction } from '../history/types.js'
import { type Anomaly, type CycleAnomalyType, type CycleStep, VIOLATES, formatCycle } from './anomalies.js'
import { type EdgeKind, EDGE_NAMES, type Graph, PathFinder, RW, WR, WW, stronglyConnected } from './graph.js'

interface Search {
  type: CycleAnomalyType
  /** The cycle must use one edge of this kind (its first)… */
  first: EdgeKind
  /** …and otherwise only edges of these kinds. */
  rest: number
}

// G2-item runs only where no G-single was found: then every cycle through an rw edge has two or more.
const SEARCHES: readonly Search[] = [
  { type: 'G0', first: WW, rest: WW },
  { type: 'G1c', first: WR, rest: WW | WR },
  { type: 'G-single', first: RW, rest: WW | WR },
  { type: 'G2-item', first: RW, rest: WW | WR | RW },
]

export interface CycleReport {
  anomalies: Anomaly[]
  /** Strongly connected components with more than one transaction: each holds at least one cycle. */
  cyclicComponents: number
  /** False when the search budget ran out, so a class may be missing or its cycle not the smallest. */
  complete: boolean
}

/**
 * Tarjan's SCCs first (linear), then, inside each cyclic component only, the shortest cycle of
 * each class by a breadth-first search back from every candidate first edge.
 */
export function findCycles(graph: Graph, txns: readonly Transaction[], budget: number): CycleReport {
  const { component, cyclic } = stronglyConnected(graph)
  const finder = new PathFinder(graph, component)
  const { start, order, edges } = graph
  const anomalies: Anomaly[] = []
  let complete = true
  for (const members of cyclic) {
    const found = new Set<CycleAnomalyType>()
    for (const search of SEARCHES) {
      if (search.type === 'G2-item' && found.has('G-single')) continue
      let best: number[] | undefined
      const limit = finder.visits + budget
      outer: for (const u of members) {
        for (let i = start[u]!; i < start[u + 1]!; i++) {
          const e = order[i]!
          if (edges.kind[e] !== search.first) continue
          const v = edges.to[e]!
          if (component[v] !== component[u]) continue
          const back = finder.shortest(v, u, search.rest, best ? best.length - 2 : members.length)
          if (back && (!best || back.length + 1 < best.length)) best = [e, ...back]
          if (best?.length === 2) break outer
          if (finder.visits > limit) {
            complete = false
            break outer
          }
        }
      }
      if (!best) continue
      found.add(search.type)
      // Start at the oldest transaction so the same cycle always reads the same way.
      let first = 0
      for (let i = 1; i < best.length; i++) if (edges.from[best[i]!]! < edges.from[best[first]!]!) first = i
      const cycle: CycleStep[] = [...best.slice(first), ...best.slice(0, first)].map((e) => ({
        from: edges.from[e]!,
        to: edges.to[e]!,
        type: EDGE_NAMES[edges.kind[e]!],
        key: edges.key[e]!,
      }))
      anomalies.push({
        type: search.type,
        violates: VIOLATES[search.type],
        description: formatCycle(cycle),
        transactions: cycle.map((step) => txns[step.from]!),
        cycle,
      })
    }
  }
  return { anomalies, cyclicComponents: cyclic.length, complete }
}
