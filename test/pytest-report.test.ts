import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { PgrigResults, TestRecord } from '../src/report/results.js'
import { isAlive, waitUntil } from '../src/servers/process-alive.js'
import { fixtureProject, repoRoot, runIn } from './support/fixture-project.js'
import { privateRunRoot } from './support/run-root.js'

// Issue 22's fixture project (d): a pytest chaos suite (categories, must-pass, allowed-to-fail,
// timeouts) under `pgrig run --pg …`, one merged report. pytest-pgrig is installed as a user does:
// a venv over Debian's pytest and psycopg, `pip install --no-build-isolation` of python/; pgrig is
// the project's npm install (its tarball), found by the plugin in node_modules.
privateRunRoot('pytest-report')

const SYSTEM_PYTHON = '/usr/bin/python3'
const PASSWORD = 'Pytest-Report-Passw0rd-31c'
// The full 15/16/17 matrix installs 16 and 17 into the engine cache first: `npm run test:slow`.
const slowTest = test.runIf(process.env.PGRIG_SLOW === '1')

let venv: string
let project: string
const temps: string[] = []

beforeAll(() => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-pytest-venv-'))
  temps.push(dir)
  // A copy: pip builds in place, and its build/ and egg-info must not land in the checkout.
  const source = path.join(dir, 'pytest-pgrig')
  fs.cpSync(path.join(repoRoot, 'python'), source, {
    recursive: true,
    filter: (file) => !/(^|\/)(build|[^/]*\.egg-info|__pycache__)$/.test(file),
  })
  venv = path.join(dir, 'venv')
  execFileSync(SYSTEM_PYTHON, ['-m', 'venv', '--system-site-packages', venv])
  execFileSync(
    path.join(venv, 'bin', 'pip'),
    ['install', '-q', '--no-build-isolation', '--no-index', '--disable-pip-version-check', source],
    { stdio: 'pipe' },
  )
  project = fixtureProject('pytest-chaos')
  temps.push(project)
}, 180_000)

afterAll(() => {
  for (const dir of temps) fs.rmSync(dir, { recursive: true, force: true })
})

const pgrig = (args: string[], env: Record<string, string> = {}, pytestArgs: string[] = []) =>
  runIn(
    project,
    [
      process.execPath,
      path.join(project, 'node_modules', 'pgrig', 'dist', 'cli', 'main.js'),
      ...args,
      '--',
      path.join(venv, 'bin', 'python'),
      '-m',
      'pytest',
      '-q',
      ...pytestArgs,
    ],
    { PGRIG_REPORT_DIR: '', ...env },
  )

function results(dir: string): PgrigResults {
  return JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')) as PgrigResults
}

function statuses(tests: TestRecord[]): Record<string, string> {
  return Object.fromEntries(tests.map((t) => [t.name, t.status]))
}

function filesUnder(dir: string): string[] {
  return fs.readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((name) => path.join(dir, name))
}

describe.concurrent(
  'pytest-pgrig under pgrig run --pg: categories, policy, timeouts, one merged report',
  () => {
    test('two versions: allowed failures and a timed-out test leave exit 0; one report, a column each, no password', async () => {
      const reportDir = path.join(project, 'report-matrix')
      const ran = await pgrig(['run', '--pg', '15,18', '--password', PASSWORD, '--report-dir', reportDir])
      expect(ran.code, ran.output).toBe(0)
      expect(ran.output).toMatch(
        /^pg15 \| pgrig: report .*; 2 failures allowed by the policy did not fail the run$/m,
      )
      expect(ran.output).toContain(
        `pgrig: combined report ${path.join(fs.realpathSync(project), 'report-matrix', 'report.html')}`,
      )
      expect(ran.output).not.toContain(PASSWORD)

      const merged = results(reportDir)
      expect(merged.policy).toMatchObject({
        mustPass: ['smoke'],
        allowedToFail: ['flaky'],
        timeouts: { slow: 1500 },
      })
      expect(merged.runs.map((r) => [r.label, r.outcome])).toEqual([
        ['pg15', 'passed'],
        ['pg18', 'passed'],
      ])
      const [pg15, pg18] = merged.runs
      expect(statuses(pg15!.tests)).toEqual({
        test_server_is_the_run_version: 'passed',
        test_latency_slows_every_round_trip: 'passed',
        test_serialization_failure_is_retried: 'passed',
        test_database_down_then_back: 'passed',
        test_reset_connection_on_oldest_version: 'allowed-failure',
        test_hangs_on_a_stalled_network_and_times_out: 'allowed-failure',
        test_runs_only_when_asked: 'skipped',
        test_every_earlier_proxy_is_gone: 'passed',
      })
      expect(statuses(pg18!.tests).test_reset_connection_on_oldest_version).toBe('passed')
      const byName = Object.fromEntries(pg15!.tests.map((t) => [t.name, t]))
      expect(byName.test_serialization_failure_is_retried?.categories).toEqual(['chaos', 'transaction'])
      expect(byName.test_hangs_on_a_stalled_network_and_times_out).toMatchObject({
        categories: ['flaky', 'slow'],
      })
      expect(byName.test_hangs_on_a_stalled_network_and_times_out?.errors[0]).toMatchObject({
        name: 'PgrigTimeout',
        message: expect.stringMatching(/^pgrig: timed out after 1500 ms \(the timeout of category slow/),
      })
      expect(byName.test_runs_only_when_asked?.skipNote).toBe(
        'pgrig: destructive tests run only when asked (--only destructive)',
      )
      expect(byName.test_reset_connection_on_oldest_version?.errors[0]?.message).toContain('(password ***)')
      expect(pg15!.environment.runner).toMatch(/^pytest \d+\.\d+\.\d+ \(Python 3\.\d+\.\d+\)$/)
      expect(pg15!.environment.servers[0]).toMatchObject({
        name: 'main',
        version: expect.stringMatching(/^15\./),
      })
      expect(pg18!.environment.servers[0]?.version).toMatch(/^18\./)

      const md = fs.readFileSync(path.join(reportDir, 'report.md'), 'utf8')
      expect(md).toContain('| test | file | categories | pg15 | pg18 |')
      expect(md).toMatch(/pytest \d+\.\d+\.\d+ \(Python/)
      for (const major of ['15', '18']) {
        expect(fs.readFileSync(path.join(reportDir, `pg${major}`, 'junit.xml'), 'utf8')).toMatch(
          /<testsuites>/,
        )
      }
      for (const file of filesUnder(reportDir).filter((f) => fs.statSync(f).isFile())) {
        expect(fs.readFileSync(file, 'utf8'), file).not.toContain(PASSWORD)
      }
    }, 180_000)

    test('a must-pass failure fails the run; --skip flaky (a category only the policy names) skips before any fixture; under xdist too', async () => {
      const reportDir = path.join(project, 'report-smoke')
      const ran = await pgrig(
        ['run', '--pg', '15', '--skip', 'flaky', '--report-dir', reportDir],
        { FAIL_SMOKE: '15' },
        ['-p', 'xdist', '-n', '2'],
      )
      expect(ran.code, ran.output).toBe(1)
      const [run] = results(reportDir).runs
      expect(run?.outcome).toBe('failed')
      const byName = Object.fromEntries(run!.tests.map((t) => [t.name, t]))
      expect(byName.test_server_is_the_run_version?.status).toBe('failed')
      for (const name of [
        'test_reset_connection_on_oldest_version',
        'test_hangs_on_a_stalled_network_and_times_out',
      ]) {
        expect(byName[name]).toMatchObject({
          status: 'skipped',
          skipNote: 'pgrig: category flaky skipped (--skip flaky)',
        })
        // Skipped before its fixtures: no proxy, no connection, no time spent.
        expect(byName[name]!.durationMs).toBeLessThan(500)
      }
      // The password in the smoke failure's message stays hidden on the console too.
      expect(ran.output).toMatch(
        /smoke failed on purpose on 15 \(postgres(ql)?:\/\/app:\*\*\*@127\.0\.0\.1:\d+\/app/,
      )
    }, 180_000)

    test('a misspelt --pgrig-only is one line before any test runs', async () => {
      const ran = await runIn(project, [
        path.join(venv, 'bin', 'python'),
        '-m',
        'pytest',
        '-q',
        '--pgrig-only',
        'smok',
      ])
      expect(ran.code).toBe(4)
      expect(ran.output.trim()).toMatch(
        /^ERROR: pgrig: category "smok" is not defined \(known: smoke, .*chaos, flaky\); add it to the policy's categories$/,
      )
    }, 60_000)

    test('SIGKILL of pytest takes its pgrig chaos serve with it', async () => {
      const tests = path.join(project, 'killed')
      fs.mkdirSync(tests)
      fs.writeFileSync(
        path.join(tests, 'test_killed.py'),
        'import time\n\ndef test_sleeps(pgrig_chaos_proxy):\n    pgrig_chaos_proxy("postgresql://127.0.0.1:9/x")\n    time.sleep(120)\n',
      )
      const pytest = spawn(path.join(venv, 'bin', 'python'), ['-m', 'pytest', '-q', 'killed'], {
        cwd: project,
        stdio: 'ignore',
      })
      let api: number | undefined
      const started = () => {
        try {
          const line = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(pytest.pid)], {
            encoding: 'utf8',
          })
            .split('\n')
            .find((l) => l.includes('chaos serve'))
          api = line ? Number(line.trim().split(' ')[0]) : undefined
        } catch {
          api = undefined // ps exits 1 while pytest has no child yet
        }
        return api !== undefined
      }
      expect(await waitUntil(started, 60_000, 100)).toBe(true)
      pytest.kill('SIGKILL')
      expect(await waitUntil(() => !isAlive(api!), 10_000, 50)).toBe(true)
    }, 90_000)

    slowTest(
      'PostgreSQL 15, 16 and 17 side by side, one merged report, exit code from the policy',
      async () => {
        const reportDir = path.join(project, 'report-15-16-17')
        const ran = await pgrig(['run', '--pg', '15,16,17', '--report-dir', reportDir], { FLAKY_ON: '16' })
        expect(ran.code, ran.output).toBe(0)
        const merged = results(reportDir)
        expect(merged.runs.map((r) => [r.label, r.outcome])).toEqual([
          ['pg15', 'passed'],
          ['pg16', 'passed'],
          ['pg17', 'passed'],
        ])
        expect(merged.runs.map((r) => statuses(r.tests).test_reset_connection_on_oldest_version)).toEqual([
          'passed',
          'allowed-failure',
          'passed',
        ])
        const failing = await pgrig(['run', '--pg', '15,16,17', '--report-dir', reportDir], {
          FAIL_SMOKE: '17',
        })
        expect(failing.code, failing.output).toBe(1)
        expect(results(reportDir).runs.map((r) => r.outcome)).toEqual(['passed', 'passed', 'failed'])
      },
      600_000,
    )
  },
)
