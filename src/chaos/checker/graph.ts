import type { Key } from '../history/types.js'

export const WW = 1
export const WR = 2
export const RW = 4
export const PROCESS = 8
export const REALTIME = 16
export type EdgeKind = typeof WW | typeof WR | typeof RW | typeof PROCESS | typeof REALTIME

export const EDGE_NAMES: Record<EdgeKind, 'ww' | 'wr' | 'rw' | 'process' | 'realtime'> = {
  1: 'ww',
  2: 'wr',
  4: 'rw',
  8: 'process',
  16: 'realtime',
}

/**
 * Dependency edges between transactions (by id), collected while the histories are read and
 * then frozen into compressed adjacency arrays. Hand-written instead of graphology: building a
 * graphology graph of a 10,000-transaction history alone takes longer than the whole check
 * budget (see bench/chaos-checker.mjs, which runs both).
 */
export class EdgeList {
  readonly from: number[] = []
  readonly to: number[] = []
  readonly kind: EdgeKind[] = []
  readonly key: Key[] = []

  add(from: number, to: number, kind: EdgeKind, key: Key): void {
    if (from === to) return
    this.from.push(from)
    this.to.push(to)
    this.kind.push(kind)
    this.key.push(key)
  }

  get size(): number {
    return this.from.length
  }
}

export interface Graph {
  nodeCount: number
  /** Edges of node n are `order[start[n]] … order[start[n+1]-1]`, indices into the EdgeList. */
  start: Int32Array
  order: Int32Array
  edges: EdgeList
}

export function freeze(nodeCount: number, edges: EdgeList): Graph {
  const start = new Int32Array(nodeCount + 1)
  for (const f of edges.from) start[f + 1]!++
  for (let n = 0; n < nodeCount; n++) start[n + 1]! += start[n]!
  const fill = start.slice(0, nodeCount)
  const order = new Int32Array(edges.size)
  for (let e = 0; e < edges.size; e++) order[fill[edges.from[e]!]!++] = e
  return { nodeCount, start, order, edges }
}

/**
 * Tarjan's strongly connected components, iterative so a long dependency chain cannot
 * overflow the stack. Returns each node's component number and the components with a cycle
 * (more than one node: self-edges are never added).
 */
export function stronglyConnected(graph: Graph): { component: Int32Array; cyclic: number[][] } {
  const n = graph.nodeCount
  const { start, order, edges } = graph
  const index = new Int32Array(n).fill(-1)
  const low = new Int32Array(n)
  const component = new Int32Array(n).fill(-1)
  const onStack = new Uint8Array(n)
  const stack = new Int32Array(n)
  const callNode = new Int32Array(n)
  const callEdge = new Int32Array(n)
  let sp = 0
  let counter = 0
  let components = 0
  const cyclic: number[][] = []
  for (let root = 0; root < n; root++) {
    if (index[root] !== -1) continue
    let depth = 0
    callNode[0] = root
    callEdge[0] = start[root]!
    index[root] = low[root] = counter++
    stack[sp++] = root
    onStack[root] = 1
    while (depth >= 0) {
      const v = callNode[depth]!
      const e = callEdge[depth]!
      if (e < start[v + 1]!) {
        callEdge[depth] = e + 1
        const w = edges.to[order[e]!]!
        if (index[w] === -1) {
          index[w] = low[w] = counter++
          stack[sp++] = w
          onStack[w] = 1
          depth++
          callNode[depth] = w
          callEdge[depth] = start[w]!
        } else if (onStack[w] && index[w]! < low[v]!) {
          low[v] = index[w]!
        }
        continue
      }
      if (low[v] === index[v]) {
        const members: number[] = []
        let w: number
        do {
          w = stack[--sp]!
          onStack[w] = 0
          component[w] = components
          members.push(w)
        } while (w !== v)
        if (members.length > 1) cyclic.push(members)
        components++
      }
      depth--
      if (depth >= 0) {
        const parent = callNode[depth]!
        if (low[v]! < low[parent]!) low[parent] = low[v]!
      }
    }
  }
  return { component, cyclic }
}

/**
 * Breadth-first search for the shortest path from `source` to `target` inside one component,
 * using only edges whose kind is in `mask`. Returns edge indices, or undefined. Scratch arrays
 * are shared between calls so thousands of searches allocate nothing.
 */
export class PathFinder {
  readonly #seen: Int32Array
  readonly #via: Int32Array
  readonly #queue: Int32Array
  #stamp = 0
  /** Nodes visited so far; the caller bounds total work with it. */
  visits = 0

  constructor(
    private readonly graph: Graph,
    private readonly component: Int32Array,
  ) {
    this.#seen = new Int32Array(graph.nodeCount)
    this.#via = new Int32Array(graph.nodeCount)
    this.#queue = new Int32Array(graph.nodeCount)
  }

  shortest(source: number, target: number, mask: number, maxEdges: number): number[] | undefined {
    const { start, order, edges } = this.graph
    const comp = this.component[source]
    const stamp = ++this.#stamp
    const seen = this.#seen
    const via = this.#via
    const queue = this.#queue
    let head = 0
    let tail = 0
    queue[tail++] = source
    seen[source] = stamp
    via[source] = -1
    // Depth tracking by layers so the search stops once paths get longer than the best cycle so far.
    let layerEnd = tail
    let depth = 0
    while (head < tail) {
      if (head === layerEnd) {
        depth++
        layerEnd = tail
        if (depth >= maxEdges) return undefined
      }
      const v = queue[head++]!
      this.visits++
      for (let i = start[v]!; i < start[v + 1]!; i++) {
        const e = order[i]!
        if ((edges.kind[e]! & mask) === 0) continue
        const w = edges.to[e]!
        if (seen[w] === stamp || this.component[w] !== comp) continue
        seen[w] = stamp
        via[w] = e
        if (w === target) {
          const path: number[] = []
          for (let x = w; x !== source; x = edges.from[via[x]!]!) path.push(via[x]!)
          return path.reverse()
        }
        queue[tail++] = w
      }
    }
    return undefined
  }
}
