/**
 * pytest-pgrig benchmark: the wall time of one test, as a Python team sees it (`pytest` typed to the
 * prompt back), in the seed-like project test/fixtures/pytest-redis-sqlalchemy (PostgreSQL + Redis,
 * async SQLAlchemy, a migrations folder). Cold: pgrig's template caches empty (PGRIG_CACHE_DIR and
 * PGRIG_TMPFS_DIR point at new folders); warm: the same caches again. Beside them the floors: the same
 * pytest with the plugin off (Python and pytest's own start), and `pgrig up` + `psql -c 'select 1'` +
 * `pgrig down` (a server without pytest).
 *
 * The warm row runs the package's three plugins (servers and fixtures, reports, chaos) as a user gets
 * them; the next row turns the report off (it runs `pgrig report policy` and `pgrig report write`).
 *
 * Run: `npm run bench:pytest` (builds dist/, then `node bench/pytest.mjs`); `--runs N` warm runs per
 * row (default 3). Needs Debian's python3-pytest, -psycopg, -sqlalchemy, -asyncpg, -redis,
 * -pytest-asyncio and redis-server, as `npm test` does. Load on the machine shows up in the numbers.
 */
import { execFile, execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const exec = promisify(execFile)
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const CLI = path.join(ROOT, 'dist', 'cli', 'main.js')
const runsAt = process.argv.indexOf('--runs')
const RUNS = runsAt > 0 ? Number(process.argv[runsAt + 1]) : 3
const ONE_TEST = 'tests/test_orders.py::test_a_check_constraint_is_real'

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-bench-pytest-'))
// The unprivileged server user must reach the caches inside it.
fs.chmodSync(work, 0o755)
const caches = { PGRIG_CACHE_DIR: path.join(work, 'cache'), PGRIG_TMPFS_DIR: path.join(work, 'tmpfs') }
try {
  fs.cpSync(path.join(ROOT, 'python'), path.join(work, 'package'), { recursive: true })
  const venv = path.join(work, 'venv')
  execFileSync('/usr/bin/python3', ['-m', 'venv', '--system-site-packages', '--without-pip', venv])
  const python = path.join(venv, 'bin', 'python')
  execFileSync('/usr/bin/python3', [
    '-m',
    'pip',
    '--python',
    python,
    'install',
    '-q',
    '--no-build-isolation',
    '--no-index',
    path.join(work, 'package'),
  ])
  const project = path.join(work, 'project')
  fs.cpSync(path.join(ROOT, 'test', 'fixtures', 'pytest-redis-sqlalchemy'), project, { recursive: true })
  fs.mkdirSync(path.join(project, 'node_modules'))
  fs.symlinkSync(ROOT, path.join(project, 'node_modules', 'pgrig'))
  for (const dir of Object.values(caches)) fs.mkdirSync(dir, { recursive: true, mode: 0o755 })
  const env = { ...process.env, ...caches }

  async function timed(file, args, options = {}) {
    const start = performance.now()
    await exec(file, args, { cwd: project, env, timeout: 180_000, ...options })
    return performance.now() - start
  }
  const pytest = (...extra) =>
    timed(python, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', ...extra, ONE_TEST])
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const many = async (fn) => {
    const xs = []
    for (let i = 0; i < RUNS; i++) xs.push(await fn())
    return median(xs)
  }

  const rows = []
  rows.push(['one test, cold (template caches empty)', await pytest()])
  rows.push([`one test, warm (median of ${RUNS})`, await many(() => pytest())])
  rows.push([`the same, reports off (-p no:pgrig_report)`, await many(() => pytest('-p', 'no:pgrig_report'))])
  const floorPytest = await many(async () => {
    // The plugin off: the test itself needs a database, so a trivial one stands in.
    const file = path.join(project, 'tests', 'test_floor.py')
    fs.writeFileSync(file, 'def test_floor():\n    pass\n')
    const start = performance.now()
    await exec(
      python,
      ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', '-p', 'no:pgrig', 'tests/test_floor.py'],
      {
        cwd: project,
        env,
      },
    )
    fs.rmSync(file)
    return performance.now() - start
  })
  rows.push(['floor: pytest without pytest-pgrig, one empty test', floorPytest])
  const floorServer = await many(async () => {
    const start = performance.now()
    const { stdout } = await exec(process.execPath, [CLI, 'up', '--json', '--name', 'bench-floor'], { env })
    const url = JSON.parse(stdout).servers[0].url
    await exec('psql', [url, '-Atc', 'select 1'], { env })
    const took = performance.now() - start
    await exec(process.execPath, [CLI, 'down', 'bench-floor'], { env })
    return took
  })
  rows.push(['floor: pgrig up + psql select 1 (down not timed)', floorServer])

  const load = os.loadavg()[0].toFixed(1)
  console.log(`pytest-pgrig: one test's wall time (load ${load}, ${os.availableParallelism()} CPUs)\n`)
  console.log('| what | ms |\n| --- | ---: |')
  for (const [what, ms] of rows) console.log(`| ${what} | ${Math.round(ms)} |`)
} finally {
  fs.rmSync(work, { recursive: true, force: true })
}
