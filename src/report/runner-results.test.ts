import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, test } from 'vitest'
import type { PgrigResults } from './results.js'

const exec = promisify(execFile)
const CLI = path.resolve('dist/cli/main.js')

const dirs: string[] = []
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
})
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-runner-results-'))
  dirs.push(dir)
  return dir
}

async function pgrig(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  try {
    const { stdout, stderr } = await exec(process.execPath, [CLI, ...args], {
      cwd,
      env: {
        ...process.env,
        PGRIG_ONLY: '',
        PGRIG_SKIP: '',
        PGRIG_PG_VERSION: '',
        GITHUB_STEP_SUMMARY: '',
        ...env,
      },
    })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

// What pytest-pgrig hands to `pgrig report write`: no label, no version, only the runner's name.
const PASSWORD = 'Runner-Passw0rd-9d2e'
const RAW = {
  schema: 'pgrig-results',
  version: 1,
  createdAt: '2026-12-07T12:00:00.000Z',
  policy: {
    mustPass: [],
    allowedToFail: ['flaky'],
    skip: ['destructive'],
    only: [],
    skipSelected: [],
    timeouts: {},
  },
  runs: [
    {
      label: null,
      pgVersion: null,
      shards: [],
      startedAt: '2026-12-07T12:00:00.000Z',
      durationMs: 1200,
      outcome: 'passed',
      environment: { runner: 'pytest 7.2.1 (Python 3.11.2)' },
      tests: [
        {
          id: 'tests/test_a.py::test_x',
          file: 'tests/test_a.py',
          suite: [],
          name: 'test_x',
          categories: ['flaky'],
          status: 'allowed-failure',
          durationMs: 3.5,
          retries: 0,
          flaky: false,
          skipNote: null,
          errors: [
            {
              name: 'AssertionError',
              message: `postgresql://app:${PASSWORD}@127.0.0.1:5/app`,
              diff: null,
              stack: null,
            },
          ],
          provisionMs: null,
          serverLog: null,
          keptDatabaseUrl: null,
        },
      ],
      unhandledErrors: [],
    },
  ],
}

describe('pgrig report write / report policy (for other runners’ plugins)', () => {
  test('write completes the environment and version label, hides passwords, writes the three reports', async () => {
    const dir = tempDir()
    const raw = path.join(dir, 'raw.json')
    fs.writeFileSync(raw, JSON.stringify(RAW))
    fs.writeFileSync(path.join(dir, 'junit.xml'), `<testsuites><!-- PGPASSWORD=${PASSWORD} --></testsuites>`)
    const out = path.join(dir, 'report')
    const done = await pgrig(
      ['report', 'write', raw, '--out', out, '--redact', path.join(dir, 'junit.xml')],
      dir,
      { PGRIG_PG_VERSION: '16', PGPASSWORD: PASSWORD },
    )
    expect(done.code, done.stderr).toBe(0)
    expect(done.stderr).toBe(`pgrig: report report/report.html\n`)
    const results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as PgrigResults
    expect(results.runs[0]).toMatchObject({ label: 'pg16', pgVersion: '16' })
    expect(results.runs[0]?.environment).toMatchObject({
      runner: 'pytest 7.2.1 (Python 3.11.2)',
      vitest: null,
      node: process.version,
    })
    for (const file of ['results.json', 'report.md', 'report.html']) {
      expect(fs.readFileSync(path.join(out, file), 'utf8')).not.toContain(PASSWORD)
    }
    expect(fs.readFileSync(path.join(dir, 'junit.xml'), 'utf8')).toBe(
      '<testsuites><!-- PGPASSWORD=*** --></testsuites>',
    )
  })

  test('write refuses a file that is not results in one line', async () => {
    const dir = tempDir()
    fs.writeFileSync(
      path.join(dir, 'raw.json'),
      '{"schema":"pgrig-results","version":1,"policy":{},"runs":[{}]}',
    )
    const done = await pgrig(['report', 'write', 'raw.json'], dir)
    expect(done.code).toBe(1)
    expect(done.stderr).toMatch(
      /^pgrig: .*raw\.json is damaged: runs\[0\]\.shards is undefined, expected an array; .*\n$/,
    )
    const missing = await pgrig(['report', 'write', 'nope.json'], dir)
    expect(missing.stderr).toMatch(/^pgrig: cannot read .*nope\.json: it does not exist; .*\n$/)
  })

  test('policy prints the resolved policy and every category; a selection naming none is one line', async () => {
    const dir = tempDir()
    fs.writeFileSync(
      path.join(dir, 'pgrig.config.json'),
      JSON.stringify({
        policy: { categories: ['chaos'], allowedToFail: ['flaky'], timeouts: { slow: 900 } },
      }),
    )
    const done = await pgrig(['report', 'policy', '--skip', 'flaky'], dir)
    expect(done.code, done.stderr).toBe(0)
    const body = JSON.parse(done.stdout) as {
      config: string
      policy: PgrigResults['policy']
      categories: { name: string; timeout?: number }[]
    }
    expect(body.config).toBe(path.join(fs.realpathSync(dir), 'pgrig.config.json'))
    expect(body.policy).toEqual({
      mustPass: [],
      allowedToFail: ['flaky'],
      skip: ['destructive'],
      only: [],
      skipSelected: ['flaky'],
      timeouts: { slow: 900 },
    })
    expect(body.categories.map((c) => c.name)).toEqual(expect.arrayContaining(['smoke', 'chaos', 'flaky']))
    expect(body.categories.find((c) => c.name === 'slow')?.timeout).toBe(900)
    const bad = await pgrig(['report', 'policy'], dir, { PGRIG_ONLY: 'chaoss' })
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(
      /^pgrig: category "chaoss" is not defined \(known: .*\); add it to the policy's categories\n$/,
    )
  })
})
