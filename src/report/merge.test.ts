import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { CLI, run, statusOf, VITEST, vitestRun } from '../../test/report-fixture.js'
import type { PgrigResults } from './results.js'

const dirs: string[] = []
afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
})
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-merge-'))
  dirs.push(dir)
  return dir
}
async function fixture(env: NodeJS.ProcessEnv, args: string[] = []) {
  const result = await vitestRun(env, args)
  dirs.push(result.dir)
  return result
}
const readResults = (dir: string) =>
  JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')) as PgrigResults

describe('pgrig report merge', () => {
  test('shards of one version become one run; each version keeps its own column', async () => {
    // The shards also write Vitest blobs, so Vitest's own --merge-reports can be checked below.
    const blobs = tempDir()
    const [pg15a, pg15b, pg17] = await Promise.all([
      fixture({ PGRIG_PG_VERSION: '15' }, [
        '--shard=1/2',
        '--reporter=blob',
        `--outputFile.blob=${blobs}/1.json`,
      ]),
      fixture({ PGRIG_PG_VERSION: '15' }, [
        '--shard=2/2',
        '--reporter=blob',
        `--outputFile.blob=${blobs}/2.json`,
      ]),
      fixture({ PGRIG_PG_VERSION: '17', FAIL_SMOKE: '1' }),
    ])
    expect([pg15a.code, pg15b.code, pg17.code]).toEqual([0, 0, 1])
    const out = tempDir()
    const merged = await run(
      process.execPath,
      [CLI, 'report', 'merge', pg17.dir, pg15a.dir, pg15b.dir, '--out', out],
      {},
    )
    expect(merged.code, merged.stderr).toBe(0)
    expect(merged.stdout).toMatch(/^pgrig: merged 3 reports into 2 runs \(pg15, pg17\): failed; /)
    const results = readResults(out)
    expect(results.runs.map((r) => [r.label, r.shards, r.outcome])).toEqual([
      ['pg15', ['1/2', '2/2'], 'passed'],
      ['pg17', [], 'failed'],
    ])
    // Both shards together hold every test once.
    expect(results.runs[0]?.tests.length).toBe(results.runs[1]?.tests.length)
    expect(statusOf(results, 'answers SELECT 1', 0)).toBe('passed')
    expect(statusOf(results, 'answers SELECT 1', 1)).toBe('failed')
    const md = fs.readFileSync(path.join(out, 'report.md'), 'utf8')
    expect(md).toContain('| test | file | categories | pg15 | pg17 |')
    expect(md).toMatch(
      /\| connections › answers SELECT 1 \| categories\.spec\.ts \| smoke \| ✅ passed [^|]+ \| ❌ failed [^|]+ \|/,
    )
    expect(md).toMatch(/### ❌ connections › answers SELECT 1 \(pg17\)/)
    expect(fs.existsSync(path.join(out, 'report.html'))).toBe(true)

    // Vitest's blob merge feeds the merged shards through pgrig's reporter and Vitest's junit reporter.
    const blobMerged = await fixture({ PGRIG_PG_VERSION: '15' }, [`--merge-reports=${blobs}`])
    expect(blobMerged.code, blobMerged.stdout + blobMerged.stderr).toBe(0)
    expect(blobMerged.results().runs[0]?.tests.length).toBe(results.runs[0]?.tests.length)
    expect(blobMerged.file('junit.xml')).toMatch(/<testsuites [^>]*tests="9"/)

    const strict = await run(
      process.execPath,
      [CLI, 'report', 'merge', pg15a.dir, pg17.dir, '--out', tempDir(), '--exit-code'],
      {},
    )
    expect(strict.code).toBe(1)
  })

  test('something that is not a report is refused in one line', async () => {
    const notReport = tempDir()
    fs.writeFileSync(path.join(notReport, 'results.json'), '{"hello": 1}')
    const bad = await run(process.execPath, [CLI, 'report', 'merge', notReport, '--out', tempDir()], {})
    expect(bad.code).toBe(1)
    expect(bad.stderr).toBe(
      `pgrig: ${path.join(notReport, 'results.json')} is not a pgrig results file; pass folders written by pgrig's reporter\n`,
    )
    const missing = await run(
      process.execPath,
      [CLI, 'report', 'merge', path.join(notReport, 'nope'), '--out', tempDir()],
      {},
    )
    expect(missing.stderr).toMatch(
      /^pgrig: cannot read .*nope: it does not exist; pass report folders written by pgrig's reporter, or JUnit XML files\n$/,
    )
  })
})

const PASSWORD = 'Report-Passw0rd-7f3a'
const CONFIG_FIXTURE = path.resolve('test/fixtures/report/config')

async function underPgrigRun(env: NodeJS.ProcessEnv) {
  const dir = tempDir()
  const runRoot = tempDir()
  // The unprivileged server user must traverse the run root.
  fs.chmodSync(runRoot, 0o755)
  const finished = await run(
    process.execPath,
    [CLI, 'run', '--quiet', '--password', PASSWORD, '--', process.execPath, VITEST, 'run'],
    { cwd: CONFIG_FIXTURE, env: { PGRIG_REPORT_DIR: dir, PGRIG_RUN_ROOT: runRoot, ...env } },
  )
  return { ...finished, dir }
}

describe.concurrent('under pgrig run, against a real server, policy from pgrig.config.ts', () => {
  test('only the allowed-to-fail category failed: exit 0', async () => {
    const finished = await underPgrigRun({})
    expect(finished.code, finished.stdout + finished.stderr).toBe(0)
    const results = readResults(finished.dir)
    expect(results.policy.allowedToFail).toEqual(['corruption'])
    expect(statusOf(results, 'queries the server pgrig run started')).toBe('passed')
    expect(statusOf(results, 'reads a torn page [corruption]')).toBe('allowed-failure')
  })

  test('the environment records the server version, profile and non-default settings, never the password', async () => {
    const finished = await underPgrigRun({ LEAK: 'database' })
    // The billing test fails with the connection URL and password in its message.
    expect(finished.code, finished.stderr).toBe(1)
    for (const text of [finished.stdout, finished.stderr]) expect(text).not.toContain(PASSWORD)
    const results = readResults(finished.dir)
    const [server] = results.runs[0]?.environment.servers ?? []
    expect(server).toMatchObject({ name: 'main', profile: 'plain', engine: 'embedded' })
    expect(server?.version).toMatch(/^\d+\.\d+/)
    expect(results.runs[0]?.pgVersion).toBe(server?.version?.split('.')[0])
    expect(results.runs[0]?.label).toBe(`pg${results.runs[0]?.pgVersion}`)
    expect(server?.settings.work_mem).toBe('8192 kB')
    const md = fs.readFileSync(path.join(finished.dir, 'report.md'), 'utf8')
    expect(md).toMatch(
      new RegExp(
        `\\| pg\\d+ \\| main \\| ${server?.version?.replace('.', '\\.')} \\| plain \\| embedded \\| 127\\.0\\.0\\.1:\\d+ \\|`,
      ),
    )
    expect(md).toContain('| work_mem | 8192 kB |')
    for (const name of ['results.json', 'report.md', 'report.html', 'junit.xml']) {
      expect(fs.readFileSync(path.join(finished.dir, name), 'utf8')).not.toContain(PASSWORD)
    }
    const card = results.runs[0]?.tests.find((t) => t.name === 'charges a card [billing]')
    expect(card?.errors[0]?.message).toMatch(
      /^refused postgresql:\/\/app:\*\*\*@127\.0\.0\.1:\d+\/app\?sslmode=disable \(password \*\*\*\)$/,
    )
  })
})
