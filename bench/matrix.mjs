/**
 * Version-matrix benchmark: wall time of one suite-like command run against PostgreSQL 15, 16 and 17,
 * three ways side by side:
 *   - `pgrig run --pg 15,16,17` (versions side by side, one per core),
 *   - `pgrig run --pg 15,16,17 --sequential`,
 *   - three `pgrig run --pg N` one after another (what a script without the matrix does).
 * The command connects and runs a few CPU-bound queries (~0.5 s of server work) so overlap shows.
 * Run: `npm run bench:matrix` (builds dist/ first); `--runs N` timed runs per row (default 3, after one
 * untimed warm-up that also installs any missing major). Other load on the machine shows in the numbers.
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const CLI = path.join(ROOT, 'dist/cli/main.js')
const VERSIONS = ['15', '16', '17']
const runsFlag = process.argv.indexOf('--runs')
const RUNS = runsFlag > 0 ? Number(process.argv[runsFlag + 1]) : 3

const work = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-bench-matrix-')), 'work.cjs')
fs.writeFileSync(
  work,
  `const pg = require(${JSON.stringify(path.join(ROOT, 'node_modules/pg'))});
(async () => {
  const c = new pg.Client()
  await c.connect()
  for (let i = 0; i < 4; i++) await c.query('select count(*) from generate_series(1, 1500000)')
  await c.end()
})()`,
)

const pgrig = (args) =>
  execFileSync(process.execPath, [CLI, 'run', '--quiet', ...args, '--', process.execPath, work], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })

const rows = [
  ['pgrig run --pg 15,16,17 (side by side)', () => pgrig(['--pg', VERSIONS.join(',')])],
  ['pgrig run --pg 15,16,17 --sequential', () => pgrig(['--pg', VERSIONS.join(','), '--sequential'])],
  ['3 × pgrig run --pg N, one after another', () => VERSIONS.forEach((v) => pgrig(['--pg', v]))],
]

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const results = []
for (const [name, run] of rows) {
  run() // warm-up: installs missing majors, builds data dir templates
  const times = []
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now()
    run()
    times.push(performance.now() - start)
  }
  results.push({ name, median: median(times), min: Math.min(...times) })
}
fs.rmSync(path.dirname(work), { recursive: true, force: true })

console.log(
  `version matrix: ${RUNS} runs each, ${os.availableParallelism()} cores, ${new Date().toISOString()}\n`,
)
console.log('| what                                     | median s | min s |')
console.log('| ---------------------------------------- | -------: | ----: |')
for (const r of results) {
  console.log(
    `| ${r.name.padEnd(40)} | ${(r.median / 1000).toFixed(2).padStart(8)} | ${(r.min / 1000).toFixed(2).padStart(5)} |`,
  )
}
