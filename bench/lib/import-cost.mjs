// What importing a module costs a new Node process: each sample is its own process, the rows take
// turns (round-robin), so a burst of load on a shared machine lands on every row alike.
import { execFileSync } from 'node:child_process'

/**
 * The imports compared, `pg` first (the ratios' base). `loaded` is imported untimed before the
 * timed `imports`: a Vitest worker has Vitest's own modules loaded before a test file imports
 * `pgrig/vitest`, so what the file adds is the second row's figure over what the first loaded.
 */
export const IMPORT_ROWS = [
  { label: "import 'pg'", imports: ['pg'] },
  { label: "import 'vitest'", imports: ['vitest'] },
  { label: "import 'pgrig/vitest'", imports: ['pgrig/vitest'], target: 2 },
  {
    label: "import 'pgrig/vitest' in a worker (Vitest loaded)",
    loaded: ['vitest'],
    imports: ['pgrig/vitest'],
  },
  {
    label: "pgrig's globalSetup in Vitest's main process",
    loaded: ['vitest/node'],
    imports: ['pgrig/vitest', './dist/integrations/vitest/global-setup.js'],
  },
  { label: "import 'pgrig'", imports: ['pgrig'] },
]

/**
 * One sample: wall ms and CPU ms (user + system, of the whole process: steadier than wall time on a
 * busy machine) spent in the timed imports of `row`, in a new process started in `cwd`.
 */
function sample(row, cwd) {
  const script = [
    ...(row.loaded ?? []).map((s) => `await import(${JSON.stringify(s)})`),
    'const t = performance.now()',
    'const c = process.cpuUsage()',
    ...row.imports.map((s) => `await import(${JSON.stringify(s)})`),
    'const { user, system } = process.cpuUsage(c)',
    'console.log(performance.now() - t, (user + system) / 1000)',
  ].join('\n')
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd, encoding: 'utf8' })
  const [wall, cpu] = out.trim().split(' ').map(Number)
  return { wall, cpu }
}

const sorted = (xs) => [...xs].sort((a, b) => a - b)
const median = (xs) => sorted(xs)[Math.floor((xs.length - 1) / 2)]

/**
 * Median and min wall ms and median CPU ms of each row over `runs` rounds, rows taking turns within
 * a round. A row's own `cwd` (another built checkout, for an A/B) replaces `cwd`.
 */
export function measureImports(cwd, runs, rows = IMPORT_ROWS) {
  const samples = rows.map(() => [])
  for (let round = 0; round < runs; round++)
    rows.forEach((row, i) => samples[i].push(sample(row, row.cwd ?? cwd)))
  return rows.map((row, i) => {
    const walls = samples[i].map((s) => s.wall)
    return { ...row, median: median(walls), min: sorted(walls)[0], cpu: median(samples[i].map((s) => s.cpu)) }
  })
}

/** A Markdown table of `measureImports` results, each beside the first row (`import 'pg'`). */
export function printImports(results, runs) {
  const fmt = (ms) => (ms < 100 ? ms.toFixed(1) : ms.toFixed(0))
  const [base] = results
  console.log(`\nimport cost, new process per sample (median / min of ${runs}, rows interleaved; ms)\n`)
  console.log('| import | wall median ms | wall min ms | vs pg | CPU median ms | CPU vs pg | target |')
  console.log('|---|---:|---:|---:|---:|---:|---|')
  for (const r of results) {
    const target = r.target ? `≤ ${r.target.toFixed(2)}×` : ''
    console.log(
      `| ${r.label} | ${fmt(r.median)} | ${fmt(r.min)} | ${(r.median / base.median).toFixed(2)}× | ${fmt(r.cpu)} | ${(r.cpu / base.cpu).toFixed(2)}× | ${target} |`,
    )
  }
}
