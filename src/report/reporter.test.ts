import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { statusOf, vitestRun } from '../../test/report-fixture.js'

const dirs: string[] = []
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
})

async function fixture(env: NodeJS.ProcessEnv = {}, args: string[] = []) {
  const result = await vitestRun(env, args)
  dirs.push(result.dir)
  return result
}

describe.concurrent('the exit code follows the policy', () => {
  test('failures only in an allowed-to-fail category: exit 0, reported prominently', async () => {
    const run = await fixture({ FAIL_CORRUPTION: '1' })
    expect(run.code, run.stdout + run.stderr).toBe(0)
    const results = run.results()
    expect(results.runs[0]?.outcome).toBe('passed')
    expect(statusOf(results, 'detects a flipped bit')).toBe('allowed-failure')
    const md = run.file('report.md')
    expect(md).toMatch(
      /> \[!WARNING\]\n> 1 failure in allowed-to-fail categories \(corruption\) did not fail the run/,
    )
    expect(md).toContain('### ⚠️ pages [corruption] › detects a flipped bit')
    expect(md).toContain('-   "checksum": "ok",\n+   "checksum": "bad",')
    expect(run.stderr).toContain('1 failure allowed by the policy did not fail the run')
    // Vitest's own junit reporter, configured by the plugin, still records the failure.
    const destructive = results.runs[0]?.tests.find((t) => t.name === 'kills the server')
    expect(destructive).toMatchObject({ status: 'skipped', categories: ['destructive'] })
    expect(destructive?.skipNote).toBe('pgrig: destructive tests run only when asked (--only destructive)')
    expect(run.file('junit.xml')).toMatch(
      /<testcase [^>]*name="pages \[corruption\] &gt; detects a flipped bit"[^>]*>\s*<failure/,
    )
  })

  test('a must-pass failure fails the run, even when the test is also allowed to fail', async () => {
    const run = await fixture({ FAIL_SMOKE: '1', FAIL_CORRUPTION: '1' })
    expect(run.code).toBe(1)
    const results = run.results()
    expect(results.runs[0]?.outcome).toBe('failed')
    expect(statusOf(results, 'answers SELECT 1')).toBe('failed')
    expect(statusOf(results, 'reads a checksummed page')).toBe('failed')
    expect(statusOf(results, 'detects a flipped bit')).toBe('allowed-failure')
    expect(run.file('report.md')).toMatch(/^# pgrig test report: ❌ failed/)
  })

  test('an uncategorised failure fails the run; a per-category timeout applies through the Vitest tag', async () => {
    const run = await fixture({ FAIL_PLAIN: '1', SLOW_MS: '2000' })
    expect(run.code).toBe(1)
    const results = run.results()
    expect(statusOf(results, 'connects with DATABASE_URL when pgrig run provides one')).toBe('failed')
    const slow = results.runs[0]?.tests.find((t) => t.name === 'waits long')
    expect(slow?.status).toBe('failed')
    expect(slow?.errors[0]?.message).toMatch(/timed out in 300ms/)
  })
})

describe.concurrent('selection: PGRIG_ONLY / PGRIG_SKIP and skip-unless-asked', () => {
  test('PGRIG_ONLY runs just the named categories, destructive included when named', async () => {
    const run = await fixture({ PGRIG_ONLY: 'destructive,billing' })
    expect(run.code).toBe(0)
    const ran = run
      .results()
      .runs[0]?.tests.filter((t) => t.status !== 'skipped')
      .map((t) => t.name)
    expect(ran?.sort()).toEqual(['charges a card [billing]', 'kills the server'])
  })

  test('PGRIG_SKIP leaves out the named categories; a failing test there cannot fail the run', async () => {
    const run = await fixture({ PGRIG_SKIP: 'smoke,slow', FAIL_SMOKE: '1', SLOW_MS: '2000' })
    expect(run.code).toBe(0)
    const results = run.results()
    expect(statusOf(results, 'answers SELECT 1')).toBe('skipped')
    expect(statusOf(results, 'waits long')).toBe('skipped')
    expect(statusOf(results, 'has no category')).toBe('passed')
    expect(results.policy).toMatchObject({ skipSelected: ['smoke', 'slow'], only: [] })
  })

  // Vitest frames a config error with its own "Startup Error" rule; pgrig's part is one line, no stack.
  const printedLines = (stderr: string) =>
    stderr.split('\n').filter((line) => line.trim() && !/^⎯+ Startup Error ⎯+$/.test(line))

  test('an unknown category in PGRIG_ONLY is refused in one line naming the known ones', async () => {
    const run = await fixture({ PGRIG_ONLY: 'smokey' })
    expect(run.code).toBe(1)
    expect(printedLines(run.stderr)).toEqual([
      expect.stringMatching(
        /^pgrig: category "smokey" is not defined \(known: smoke, property,.*\); add it to the policy's categories$/,
      ),
    ])
    expect(run.stdout + run.stderr).not.toMatch(/^\s+at /m)
  })

  test('a misspelt category in the policy itself is refused in one line, with no stack', async () => {
    const run = await fixture({ POLICY_MUST_PASS: 'smokee' })
    expect(run.code).toBe(1)
    expect(printedLines(run.stderr)).toEqual([
      expect.stringMatching(
        /^pgrig: category "smokee" is not defined \(known: smoke, .*\); add it to the policy's categories$/,
      ),
    ])
    expect(run.stdout + run.stderr).not.toMatch(/^\s+at |PgrigError/m)
  })
})

describe.concurrent('files and redaction', () => {
  test('no password reaches the console, JSON, Markdown, HTML, JUnit or step summary', async () => {
    const password = 'Sup3rSecretPassw0rd'
    const summary = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-summary-')), 'summary.md')
    dirs.push(path.dirname(summary))
    fs.writeFileSync(summary, '# earlier step\n')
    const run = await fixture({
      LEAK: `postgresql://app:${password}@127.0.0.1:5999/app`,
      PGRIG_MAIN_PASSWORD: password,
      GITHUB_STEP_SUMMARY: summary,
      FAIL_META: '1',
      META_PASSWORD: password,
    })
    expect(run.code).toBe(1)
    const files = ['results.json', 'report.md', 'report.html', 'junit.xml'].map((name) => run.file(name))
    for (const text of [...files, run.stdout, run.stderr, fs.readFileSync(summary, 'utf8')]) {
      expect(text).not.toContain(password)
    }
    const card = run.results().runs[0]?.tests.find((t) => t.name === 'charges a card [billing]')
    expect(card?.errors[0]?.message).toBe('could not connect to postgresql://app:***@127.0.0.1:5999/app')
    // What the fixtures attach (task.meta.pgrig) shows in the failure details, redacted too.
    const md = run.file('report.md')
    expect(md).toContain('Kept database: `postgres://app:***@127.0.0.1:5432/pgrig_kept_1`')
    expect(md).toContain(
      'ERROR:  relation "missing" does not exist\nDETAIL:  url postgres://app:***@127.0.0.1:1/app',
    )
    expect(md).toMatch(
      /\| keeps its database for inspection \[recovery\] \| plain\.spec\.ts \| recovery \| ❌ failed [^|]+ \| 13 ms \|/,
    )
    expect(run.results().runs[0]?.tests.find((t) => t.categories.includes('recovery'))?.provisionMs).toBe(
      12.5,
    )
    // The step summary is appended to, not overwritten, and leaves out the per-test table.
    const written = fs.readFileSync(summary, 'utf8')
    expect(written).toMatch(/^# earlier step\n# pgrig test report: ❌ failed/)
    expect(written).not.toContain('## Tests')
  })
})
