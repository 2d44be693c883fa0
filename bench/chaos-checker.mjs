/**
 * Isolation checker benchmark: transactions checked per second on a 10,000-transaction history
 * (target ≥ 50,000 txn/s), for pgrig's check() next to two other ways of finding the same
 * cycles: graphology (+ graphology-components' Tarjan SCC) holding the dependency graph, and a
 * naive search (a depth-first search for a way back from every edge, no SCC pruning).
 * Histories: simulated serializable (valid) and snapshot-isolation (write skew) executions of
 * list-append and register workloads; with `--recorded`, also one recorded from a real server.
 *
 * Run: `npm run bench:checker` (builds dist/, then `node bench/chaos-checker.mjs [--runs N]`).
 * Each row: one untimed warm-up, then N timed runs (default 7); the median is shown. The naive
 * search takes seconds per history, so it runs once, without warm-up.
 */
import os from 'node:os'
import Graph from 'graphology'
import { stronglyConnectedComponents } from 'graphology-components'
import { check, runWorkload } from '../dist/chaos/index.js'
import { analyzeListAppend } from '../dist/chaos/checker/list-append.js'
import { analyzeRwRegister } from '../dist/chaos/checker/rw-register.js'
import { toTransactions } from '../dist/chaos/history/transactions.js'
import { simulateHistory } from '../dist/chaos/workload/simulate.js'
import { startServer } from '../dist/index.js'

const TRANSACTIONS = 10_000
const TARGET = 50_000
const runsArg = process.argv.find((a) => a.startsWith('--runs='))?.slice(7)
const RUNS = runsArg ? Number(runsArg) : 7
if (!Number.isInteger(RUNS) || RUNS < 1) {
  console.error(`--runs wants a positive whole number, got ${runsArg}`)
  process.exit(2)
}

/** Median wall time and median CPU time (user + system) of the timed runs. */
function median(fn, runs = RUNS, warmUp = true) {
  let result = warmUp ? fn() : undefined
  const wall = []
  const cpu = []
  for (let i = 0; i < runs; i++) {
    const t = performance.now()
    const c = process.cpuUsage()
    result = fn()
    const used = process.cpuUsage(c)
    wall.push(performance.now() - t)
    cpu.push((used.user + used.system) / 1000)
  }
  const mid = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  return { ms: mid(wall), cpuMs: mid(cpu), result }
}

const analyze = (model, history) => {
  const txns = toTransactions(history)
  return { txns, ...(model === 'list-append' ? analyzeListAppend(txns) : analyzeRwRegister(txns)) }
}

/** The same edges in a graphology graph, its SCCs from graphology-components. */
function withGraphology(model, history) {
  const { txns, edges } = analyze(model, history)
  const graph = new Graph({ type: 'directed', multi: true })
  for (const t of txns) graph.addNode(t.id)
  for (let e = 0; e < edges.size; e++) graph.addEdge(edges.from[e], edges.to[e], { kind: edges.kind[e] })
  return stronglyConnectedComponents(graph).filter((c) => c.length > 1).length
}

/** For every edge u→v, a depth-first search from v looking for u: each hit is a cycle. */
function naive(model, history) {
  const { txns, edges } = analyze(model, history)
  const out = txns.map(() => [])
  for (let e = 0; e < edges.size; e++) out[edges.from[e]].push(edges.to[e])
  const seen = new Int32Array(txns.length)
  let stamp = 0
  let cyclicEdges = 0
  for (let e = 0; e < edges.size; e++) {
    const target = edges.from[e]
    const stack = [edges.to[e]]
    stamp++
    while (stack.length) {
      const v = stack.pop()
      if (v === target) {
        cyclicEdges++
        break
      }
      if (seen[v] === stamp) continue
      seen[v] = stamp
      for (const w of out[v]) if (seen[w] !== stamp) stack.push(w)
    }
  }
  return cyclicEdges
}

const rate = (n, ms) => Math.round((n / ms) * 1000)
const fmt = (n) => n.toLocaleString('en-US')

async function recordedHistory() {
  const server = await startServer({ name: 'bench-checker' })
  try {
    const { history } = await runWorkload({
      url: server.url,
      model: 'list-append',
      isolation: 'repeatable-read',
      clients: 8,
      transactions: 2000,
      keys: 8,
      seed: 42,
    })
    return history
  } finally {
    await server.stop()
  }
}

const cases = []
for (const model of ['list-append', 'rw-register']) {
  for (const isolation of ['serializable', 'snapshot-isolation']) {
    cases.push({
      name: `${model}, simulated ${isolation}`,
      model,
      history: simulateHistory({ model, transactions: TRANSACTIONS, isolation, seed: 1 }),
    })
  }
}
if (process.argv.includes('--recorded')) {
  cases.push({
    name: 'list-append, recorded at REPEATABLE READ',
    model: 'list-append',
    history: await recordedHistory(),
  })
}

console.log(
  `Checker throughput, median of ${RUNS} runs (one warm-up each). Target: ≥ ${fmt(TARGET)} txn/s.\n`,
)
console.log(
  '| history | txns | events | edges | approach | wall ms | txn/s | CPU ms | txn/s per CPU s | found |',
)
console.log('|---|---:|---:|---:|---|---:|---:|---:|---:|---|')
let missed = false
for (const { name, model, history } of cases) {
  const txns = toTransactions(history).length
  const ours = median(() => check(history, { model }))
  const found = Object.entries(
    ours.result.anomalies.reduce((acc, a) => ({ ...acc, [a.type]: (acc[a.type] ?? 0) + 1 }), {}),
  )
    .map(([t, n]) => `${t}×${n}`)
    .join(', ')
  const edges = ours.result.graph.edges
  const row = (approach, m, what) =>
    console.log(
      `| ${name} | ${fmt(txns)} | ${fmt(history.length)} | ${fmt(edges)} | ${approach} | ${m.ms.toFixed(1)} | ${fmt(rate(txns, m.ms))} | ${m.cpuMs.toFixed(1)} | ${fmt(rate(txns, m.cpuMs))} | ${what} |`,
    )
  row('pgrig check()', ours, found || 'nothing')
  if (rate(txns, ours.ms) < TARGET) missed = true
  const lib = median(() => withGraphology(model, history))
  row(
    'same analysis, graphology graph + its Tarjan SCC (no cycle search)',
    lib,
    `${lib.result} cyclic components`,
  )
  const slow = median(() => naive(model, history), 1, false)
  row('naive DFS per edge', slow, `${fmt(slow.result)} edges on a cycle`)
}
console.log(`\n${missed ? 'MISSED' : 'met'}: pgrig check() ≥ ${fmt(TARGET)} txn/s (wall) on every history.`)
console.log(
  `Load average at the end: ${os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')} on ${os.cpus().length} CPUs.`,
)
