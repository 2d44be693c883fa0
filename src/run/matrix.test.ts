import { execFile, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterEach, describe, expect, test } from 'vitest'
import { isAlive, waitUntil } from '../servers/process-alive.js'
import { listRuns } from '../servers/run-dir.js'
import { fixtureProject, repoRoot, runIn, type Ran } from '../../test/support/fixture-project.js'

const exec = promisify(execFile)
const CLI = path.resolve('dist/cli/main.js')
const PG = JSON.stringify(path.resolve('node_modules/pg'))

// Prints what the command saw, and exits 3 on PostgreSQL 15 so the combined exit code shows.
const REPORT = `
  const pg = require(${PG});
  (async () => {
    const c = new pg.Client()
    await c.connect()
    const v = (await c.query('show server_version')).rows[0].server_version
    await c.end()
    const e = process.env
    console.log(['saw', e.PGRIG_PG_VERSION, v, e.PGRIG_ONLY, e.PGRIG_SKIP, e.PGRIG_REPORT_DIR].join(' '))
    process.exit(e.PGRIG_PG_VERSION === '15' ? 3 : 0)
  })()`

const temps: string[] = []
afterEach(() => {
  for (const dir of temps.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-matrix-'))
  temps.push(dir)
  return dir
}

async function pgrig(args: string[], cwd: string) {
  try {
    const { stdout, stderr } = await exec(process.execPath, [CLI, ...args], { cwd })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

describe('pgrig run --pg a,b (the local version matrix)', () => {
  test('runs the command once per major, prefixed, each against its own server; exit codes combine', async () => {
    const cwd = tempDir()
    const out = await pgrig(
      [
        'run',
        '--pg',
        '15,18',
        '--only',
        'smoke, transaction',
        '--skip',
        'slow,destructive',
        '--',
        process.execPath,
        '-e',
        REPORT,
      ],
      cwd,
    )
    expect(out.code, out.stderr).toBe(3)
    const lines = out.stdout.trim().split('\n').sort()
    expect(lines).toEqual([
      `pg15 | saw 15 ${lines[0]!.split(' ')[4]} smoke,transaction slow,destructive ${path.join(fs.realpathSync(cwd), 'pgrig-report', 'pg15')}`,
      `pg18 | saw 18 ${lines[1]!.split(' ')[4]} smoke,transaction slow,destructive ${path.join(fs.realpathSync(cwd), 'pgrig-report', 'pg18')}`,
    ])
    expect(lines[0]).toMatch(/saw 15 15\.\d+ /)
    expect(lines[1]).toMatch(/saw 18 18\.\d+ /)
    expect(out.stderr).toMatch(/^pg15 \| pgrig: main \(PostgreSQL 15\.\d+, port \d+\) up in/m)
    expect(out.stderr).toMatch(/PostgreSQL 15\s+failed\s+exit 3/)
    expect(out.stderr).toMatch(/PostgreSQL 18\s+passed\s+exit 0/)
  })

  test('one version runs as before, and still tells the command its major, categories and report dir', async () => {
    const cwd = tempDir()
    const out = await pgrig(
      [
        'run',
        '--pg',
        '15',
        '--quiet',
        '--skip',
        'slow',
        '--report-dir',
        'out',
        '--',
        process.execPath,
        '-e',
        REPORT,
      ],
      cwd,
    )
    expect(out.code, out.stderr).toBe(3)
    expect(out.stdout).toMatch(
      new RegExp(
        `^saw 15 15\\.\\d+  slow ${path.join(fs.realpathSync(cwd), 'out').replaceAll('/', '\\/')}\n$`,
      ),
    )
    expect(out.stderr).toBe('')
  })

  const vitestBin = path.join(repoRoot, 'node_modules', 'vitest', 'vitest.mjs')
  interface VersionSeen {
    port: string
    pgport: string
    runId: string
    version: string
    pgVersionEnv: string | null
  }
  const seenOf = (ran: Ran) =>
    (ran.records as unknown as VersionSeen[]).sort((a, b) => a.version.localeCompare(b.version))

  test("pgrig/vitest in each version's run uses that version's server, the one PGPORT points at", async () => {
    const dir = fixtureProject('vitest-project')
    temps.push(dir)
    const vitest = [process.execPath, vitestBin, 'run', 'version.spec.ts']
    const ran = await runIn(
      dir,
      [process.execPath, CLI, 'run', '--pg', '15,18', '--quiet', '--', ...vitest],
      {
        FIXTURE_VERSION: '1',
      },
    )
    expect(ran.code, ran.output).toBe(0)
    const seen = seenOf(ran)
    expect(seen.map((r) => r.version)).toEqual([
      expect.stringMatching(/^15\./),
      expect.stringMatching(/^18\./),
    ])
    for (const r of seen) expect(r.port).toBe(r.pgport)
    expect(seen.map((r) => r.pgVersionEnv)).toEqual(['15', '18'])
    // Both versions' servers are in one run's state, so only PGPORT tells them apart.
    expect(new Set(seen.map((r) => r.runId)).size).toBe(1)
  })

  test('one run with a server per version (config versions): PGPORT picks the server pgrig/vitest uses', async () => {
    const dir = fixtureProject('vitest-project')
    temps.push(dir)
    fs.writeFileSync(path.join(dir, 'pgrig.config.json'), JSON.stringify({ versions: [15, 18] }))
    // Both servers are in one run's state; each Vitest run is pointed at one of them.
    const vitest = `${JSON.stringify(process.execPath)} ${JSON.stringify(vitestBin)} run version.spec.ts`
    const script = `PGPORT=$PGRIG_MAIN_PG15_PORT ${vitest} & a=$!; PGPORT=$PGRIG_MAIN_PG18_PORT ${vitest} & b=$!; wait $a && wait $b`
    const ran = await runIn(dir, [process.execPath, CLI, 'run', '--quiet', '--', 'sh', '-c', script], {
      FIXTURE_VERSION: '1',
    })
    expect(ran.code, ran.output).toBe(0)
    const seen = seenOf(ran)
    expect(seen.map((r) => r.version)).toEqual([
      expect.stringMatching(/^15\./),
      expect.stringMatching(/^18\./),
    ])
    for (const r of seen) expect(r.port).toBe(r.pgport)
    // two majors in one run: no single PGRIG_PG_VERSION, so the reporter asks the PGPORT server
    expect(seen.map((r) => r.pgVersionEnv)).toEqual([null, null])
  })

  test('--sequential runs one version after the other; every version passing exits 0', async () => {
    const cwd = tempDir()
    const script = `console.log(process.env.PGRIG_PG_VERSION, Date.now()); setTimeout(() => console.log('end', Date.now()), 300)`
    const out = await pgrig(
      ['run', '--pg', '18,15', '--sequential', '--quiet', '--', process.execPath, '-e', script],
      cwd,
    )
    expect(out.code, out.stderr).toBe(0)
    const times = out.stdout
      .trim()
      .split('\n')
      .map((l) => Number(l.split(' ').at(-1)))
    expect(out.stdout).toMatch(/^pg18 \| 18 \d+\npg18 \| end \d+\npg15 \| 15 \d+\npg15 \| end \d+\n$/)
    expect(times[2]).toBeGreaterThanOrEqual(times[1]!)
    expect(out.stderr).not.toMatch(/up in/)
  })

  test('Ctrl-C stops every version: commands and servers are gone, exit 130', async () => {
    const cwd = tempDir()
    const script = `console.log('ready', process.pid); setInterval(() => {}, 1000)`
    const child = spawn(
      process.execPath,
      [CLI, 'run', '--pg', '15,18', '--', process.execPath, '-e', script],
      {
        cwd,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let stdout = ''
    child.stdout.on('data', (d) => (stdout += d))
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    try {
      expect(await waitUntil(() => (stdout.match(/ready/g) ?? []).length === 2, 30_000)).toBe(true)
      const commandPids = [...stdout.matchAll(/ready (\d+)/g)].map((m) => Number(m[1]))
      const postmasters = listRuns()
        .filter((run) => run.ownerPid === child.pid)
        .flatMap((run) => run.servers.map((s) => s.pid!))
      expect(postmasters).toHaveLength(2)
      child.kill('SIGINT')
      expect(await exited).toBe(130)
      for (const pid of [...commandPids, ...postmasters]) {
        expect(await waitUntil(() => !isAlive(pid), 5000), `pid ${pid} still alive`).toBe(true)
      }
    } finally {
      child.kill('SIGKILL')
    }
  })

  test('a version that cannot start is reported and fails the run; the others still run', async () => {
    const cwd = tempDir()
    const out = await pgrig(['run', '--pg', '18,9', '--', process.execPath, '-e', 'console.log("ran")'], cwd)
    expect(out.code).toBe(1)
    expect(out.stdout).toBe('pg18 | ran\n')
    expect(out.stderr).toMatch(/^pg9 {2}\| pgrig: .*9/m)
    expect(out.stderr).toMatch(/PostgreSQL 9\s+not run\s+exit 1/)
  })

  test('a command that does not exist exits 127, as in a shell, for every version', async () => {
    const out = await pgrig(['run', '--pg', '15,18', '--quiet', '--', 'no-such-command-pgrig'], tempDir())
    expect(out.code).toBe(127)
    expect(out.stderr).toMatch(/^pg15 \| pgrig: command no-such-command-pgrig was not found/m)
    expect(out.stderr).toMatch(/PostgreSQL 18\s+failed\s+exit 127/)
  })

  test('bad lists and flags that make no sense with several versions end in one line', async () => {
    const cwd = tempDir()
    for (const [args, message] of [
      [['--pg', '15,,16'], /--pg 15,,16 is not a list of PostgreSQL versions/],
      [['--pg', '15,15'], /names 15 twice/],
      [['--pg', '15,16', '--keep'], /drop --keep/],
      [['--pg', '18', '--only', 'a b'], /--only a b is not a list of categories/],
    ] as const) {
      const out = await pgrig(['run', ...args, '--', 'true'], cwd)
      expect(out.code).toBe(1)
      expect(out.stderr.trim().split('\n')).toEqual([expect.stringMatching(message)])
    }
  })
})
