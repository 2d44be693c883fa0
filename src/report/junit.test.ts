import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, describe, expect, test } from 'vitest'
import { readResults } from './merge.js'
import type { PgrigResults } from './results.js'

const exec = promisify(execFile)
const CLI = path.resolve('dist/cli/main.js')
// What pytest 7's --junitxml wrote for a small suite: a pass, two failures (one with a password in its
// message), a skip with a reason, parametrized tests in a class.
const PYTEST_XML = path.resolve('test/fixtures/report/junit/pytest.xml')

const dirs: string[] = []
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
})
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-junit-'))
  dirs.push(dir)
  return dir
}

describe('JUnit XML as pgrig results', () => {
  test('each testcase is a test: status, message, stack, skip note, duration; a pg<major> folder names the run', () => {
    const dir = path.join(tempDir(), 'pg16')
    fs.mkdirSync(dir)
    fs.copyFileSync(PYTEST_XML, path.join(dir, 'junit.xml'))
    const results = readResults(dir)
    const [run] = results.runs
    expect(run).toMatchObject({ label: 'pg16', pgVersion: '16', outcome: 'failed' })
    expect(run?.environment.runner).toBe('JUnit XML')
    const byName = Object.fromEntries((run?.tests ?? []).map((t) => [t.name, t]))
    expect(Object.keys(byName).sort()).toEqual([
      'test_errors',
      'test_fails_smoke_marker',
      'test_ok',
      'test_param[1]',
      'test_param[2]',
      'test_skipped',
    ])
    expect(byName.test_ok).toMatchObject({ status: 'passed', file: 'test_x', errors: [] })
    expect(byName['test_param[2]']).toMatchObject({ status: 'passed', id: 'test_x.TestGroup::test_param[2]' })
    expect(byName.test_skipped).toMatchObject({ status: 'skipped', skipNote: 'not today' })
    const error = byName.test_errors?.errors[0]
    expect(error).toMatchObject({ name: 'AssertionError', message: 'RuntimeError: boom <&>' })
    expect(error?.stack).toContain('raise RuntimeError("boom <&>")')
    expect(byName.test_fails_smoke_marker?.errors[0]?.message).toBe(
      'AssertionError: postgres://app:s3cretpassw0rd@127.0.0.1:5432/db\nassert 1 == 2',
    )
  })

  test('pgrig report merge takes JUnit files next to pgrig folders: a column each, passwords hidden', async () => {
    const root = tempDir()
    for (const major of ['15', '17']) {
      fs.mkdirSync(path.join(root, `pg${major}`))
      fs.copyFileSync(PYTEST_XML, path.join(root, `pg${major}`, 'junit.xml'))
    }
    const out = path.join(root, 'merged')
    const { stdout } = await exec(process.execPath, [
      CLI,
      'report',
      'merge',
      path.join(root, 'pg15', 'junit.xml'),
      path.join(root, 'pg17'),
      '--out',
      out,
    ])
    expect(stdout).toMatch(/^pgrig: merged 2 reports into 2 runs \(pg15, pg17\): failed; 6 passed, 4 failed/)
    const merged = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as PgrigResults
    expect(merged.runs.map((r) => r.label)).toEqual(['pg15', 'pg17'])
    for (const name of ['results.json', 'report.md', 'report.html']) {
      const text = fs.readFileSync(path.join(out, name), 'utf8')
      expect(text).not.toContain('s3cretpassw0rd')
      expect(text).toContain('postgres://app:***@127.0.0.1:5432/db')
    }
    expect(fs.readFileSync(path.join(out, 'report.md'), 'utf8')).toContain('JUnit XML')
  })

  test('XML that is broken, or not JUnit, is refused in one line', () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, 'broken.xml'), '<testsuites><testsuite name="x"')
    fs.writeFileSync(path.join(dir, 'other.xml'), '<?xml version="1.0"?><project><name>x</name></project>')
    expect(() => readResults(path.join(dir, 'broken.xml'))).toThrow(
      /broken\.xml is not well-formed XML \(line 1: .*\); pass JUnit XML as the runner wrote it/,
    )
    expect(() => readResults(path.join(dir, 'other.xml'))).toThrow(
      /other\.xml is XML but not JUnit \(no <testsuites> or <testsuite> root\)/,
    )
  })
})
