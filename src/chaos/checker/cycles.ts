import type { Transaction } from '../history/types.js'
import {
  type Anomaly,
  type CycleAnomalyType,
  type CycleStep,
  type DataCycleType,
  VIOLATES,
  formatCycle,
} from './anomalies.js'
import { type EdgeKind, EDGE_NAMES, type Graph, PathFinder, RW, WR, WW, stronglyConnected } from './graph.js'

interface Search {
  type: DataCycleType
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
 * each class by a breadth-first search back from every candidate first edge. With `orderKinds`
 * (process and/or real-time edges in the graph), classes data edges alone did not show are
 * searched again with those edges allowed, and reported as `<class>-process` / `-realtime`.
 */
export function findCycles(
  graph: Graph,
  txns: readonly Transaction[],
  budget: number,
  orderKinds = 0,
): CycleReport {
  const { component, cyclic } = stronglyConnected(graph)
  const finder = new PathFinder(graph, component)
  const { start, order, edges } = graph
  const anomalies: Anomaly[] = []
  let complete = true
  for (const members of cyclic) {
    const found = new Set<DataCycleType>()
    for (const withOrder of orderKinds ? [false, true] : [false]) {
      for (const search of SEARCHES) {
        if (found.has(search.type)) continue
        if (search.type === 'G2-item' && found.has('G-single')) continue
        const rest = withOrder ? search.rest | orderKinds : search.rest
        const best = shortestCycle(members, search.first, rest)
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
        const suffix = cycle.some((s) => s.type === 'realtime')
          ? '-realtime'
          : cycle.some((s) => s.type === 'process')
            ? '-process'
            : ''
        const type = `${search.type}${suffix}` as CycleAnomalyType
        anomalies.push({
          type,
          violates: VIOLATES[type],
          description: formatCycle(cycle),
          transactions: cycle.map((step) => txns[step.from]!),
          cycle,
        })
      }
    }
  }

  function shortestCycle(
    members: readonly number[],
    firstKind: EdgeKind,
    rest: number,
  ): number[] | undefined {
    let best: number[] | undefined
    const limit = finder.visits + budget
    for (const u of members) {
      for (let i = start[u]!; i < start[u + 1]!; i++) {
        const e = order[i]!
        if (edges.kind[e] !== firstKind) continue
        const v = edges.to[e]!
        if (component[v] !== component[u]) continue
        const back = finder.shortest(v, u, rest, best ? best.length - 2 : members.length)
        if (back && (!best || back.length + 1 < best.length)) best = [e, ...back]
        if (best?.length === 2) return best
        if (finder.visits > limit) {
          complete = false
          return best
        }
      }
    }
    return best
  }
  return { anomalies, cyclicComponents: cyclic.length, complete }
}
