import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { parse } from 'yaml'

const exec = promisify(execFile)
const REPO = path.resolve('.')
const CLI = path.join(REPO, 'dist/cli/main.js')

// A user's project that depends on this pgrig (file: link, as npm lays it out: a symlink in
// node_modules and a bin link), with one unit test and two integration test files.
let project: string
beforeAll(async () => {
  project = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-example-'))
  fs.writeFileSync(
    path.join(project, 'package.json'),
    JSON.stringify({
      name: 'example',
      private: true,
      type: 'module',
      devDependencies: { pgrig: `file:${REPO}`, vitest: '*', pg: '*' },
    }),
  )
  fs.writeFileSync(path.join(project, 'package-lock.json'), '{}\n')
  const modules = path.join(project, 'node_modules')
  fs.mkdirSync(path.join(modules, '.bin'), { recursive: true })
  fs.symlinkSync(REPO, path.join(modules, 'pgrig'))
  for (const dep of ['vitest', 'pg'])
    fs.symlinkSync(path.join(REPO, 'node_modules', dep), path.join(modules, dep))
  fs.symlinkSync('../pgrig/dist/cli/main.js', path.join(modules, '.bin/pgrig'))
  fs.symlinkSync('../vitest/vitest.mjs', path.join(modules, '.bin/vitest'))
  fs.mkdirSync(path.join(project, 'test'))
  fs.writeFileSync(
    path.join(project, 'test/math.test.js'),
    `import { expect, test } from 'vitest'\ntest('adds', () => expect(1 + 1).toBe(2))\n`,
  )
  fs.writeFileSync(
    path.join(project, 'vitest.config.js'),
    `import { defineConfig } from 'vitest/config'
import { pgrigReport } from 'pgrig/reporter'
export default defineConfig({ plugins: [pgrigReport()] })
`,
  )
  // Each file: a test for every lane, and one the pull-request lane leaves to the weekly one.
  for (const [name, category] of [
    ['orders', 'slow'],
    ['users', 'destructive'],
  ]) {
    fs.writeFileSync(
      path.join(project, `test/${name}.integration.test.js`),
      `import pg from 'pg'
import { expect, test } from 'vitest'
async function query(sql) {
  const client = new pg.Client({ connectionString: process.env.DATABASE_URL })
  await client.connect()
  try {
    return (await client.query(sql)).rows
  } finally {
    await client.end()
  }
}
test('${name}: a table on the PostgreSQL major this run is for', async () => {
  await query('create table ${name} (id int primary key)')
  await query('insert into ${name} values (1), (2)')
  expect((await query('select count(*)::int as n from ${name}'))[0].n).toBe(2)
  const [{ server_version_num }] = await query('show server_version_num')
  expect(String(Math.floor(server_version_num / 10000))).toBe(process.env.PGRIG_PG_VERSION)
})
test('${name}: ${category} work', { tags: ['${category}'] }, async () => {
  expect((await query('select 1 as one'))[0].one).toBe(1)
})
`,
    )
  }
  const init = await exec(
    process.execPath,
    [CLI, 'init', 'ci', '--pg', '15,18', '--shards', '2', '--only', 'github'],
    {
      cwd: project,
    },
  )
  expect(init.stderr).toContain('wrote')
})
afterAll(() => {
  if (project) fs.rmSync(project, { recursive: true, force: true })
})

interface Step {
  run?: string
}
function runStep(job: string, contains: string): string {
  const workflow = parse(fs.readFileSync(path.join(project, '.github/workflows/test.yml'), 'utf8'))
  const step = (workflow.jobs[job].steps as Step[]).find((s) => s.run?.includes(contains))
  if (!step?.run) throw new Error(`no step in job ${job} runs ${contains}`)
  return step.run
}

// What a CI runner gives a step: a shell, PATH, HOME; none of this test run's own Vitest variables.
async function runLikeCi(command: string) {
  const env = {
    PATH: process.env.PATH!,
    HOME: process.env.HOME ?? os.homedir(),
    CI: 'true',
    ...(process.env.PGRIG_RUN_ROOT ? { PGRIG_RUN_ROOT: process.env.PGRIG_RUN_ROOT } : {}),
  }
  try {
    const { stdout, stderr } = await exec('sh', ['-c', command], { cwd: project, env })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

function junit(file: string): { tests: number; failures: number; skipped: number; names: string[] } {
  const xml = fs.readFileSync(path.join(project, file), 'utf8')
  const suites = xml.match(/<testsuites [^>]*>/)![0]
  return {
    tests: Number(suites.match(/tests="(\d+)"/)![1]),
    failures: Number(suites.match(/failures="(\d+)"/)![1]),
    skipped: (xml.match(/<skipped/g) ?? []).length,
    names: [...xml.matchAll(/<testcase [^>]*name="([^"]+)"/g)].map((m) => m[1]!).sort(),
  }
}

const plain = (name: string) => `${name}: a table on the PostgreSQL major this run is for`

describe('the generated GitHub workflow, run locally against an example project', () => {
  test('the integration job passes on every matrix cell, and the report job merges the shards', async () => {
    const integration = runStep('integration', 'pgrig run')
    // Two cells of the matrix, side by side as on CI runners: another version, the other shard.
    const cells = [
      ['15', '1'],
      ['18', '2'],
    ] as const
    const outs = await Promise.all(
      cells.map(([pg, shard]) => {
        const command = integration
          .replaceAll('${{ matrix.pg }}', pg)
          .replaceAll('${{ matrix.shard }}', shard)
        expect(command).not.toContain('${{')
        return runLikeCi(command)
      }),
    )
    for (const [i, [pg, shard]] of cells.entries()) {
      const out = outs[i]!
      expect(out.code, out.stdout + out.stderr).toBe(0)
      expect(out.stderr).toMatch(new RegExp(`PostgreSQL ${pg}\\.\\d+`))
      // One file per shard: its plain test runs, its slow or destructive one waits for the weekly lane.
      expect(junit(`reports/junit-pg${pg}-shard${shard}.xml`)).toMatchObject({
        tests: 2,
        failures: 0,
        skipped: 1,
      })
      expect(fs.existsSync(path.join(project, `.vitest-reports/blob-pg${pg}-shard${shard}.json`))).toBe(true)
      expect(fs.existsSync(path.join(project, `pgrig-report/pg${pg}-shard${shard}/results.json`))).toBe(true)
    }
    const merge = await runLikeCi(runStep('report', '--merge-reports'))
    expect(merge.code, merge.stdout + merge.stderr).toBe(0)
    expect(junit('reports/junit-integration.xml')).toMatchObject({
      tests: 4,
      failures: 0,
      skipped: 2,
    })
    expect(junit('reports/junit-integration.xml').names).toEqual(
      expect.arrayContaining([plain('orders'), plain('users')]),
    )
    const pgrigMerge = await runLikeCi(runStep('report', 'pgrig report merge'))
    expect(pgrigMerge.code, pgrigMerge.stdout + pgrigMerge.stderr).toBe(0)
    const markdown = fs.readFileSync(path.join(project, 'pgrig-report/merged/report.md'), 'utf8')
    // One column per version, each shard's results folded into its version's.
    expect(markdown).toMatch(/^\| pg15 \(shards 1\/2\) \| 15\.\d+ \| passed \| 1 \| 0 \| 0 \| 1 \|/m)
    expect(markdown).toMatch(/^\| pg18 \(shards 2\/2\) \| 18\.\d+ \| passed \| 1 \| 0 \| 0 \| 1 \|/m)
    expect(fs.existsSync(path.join(project, 'pgrig-report/merged/report.html'))).toBe(true)
  })

  test('the unit job runs only the unit tests', async () => {
    const out = await runLikeCi(runStep('unit', 'vitest run'))
    expect(out.code, out.stdout + out.stderr).toBe(0)
    expect(junit('reports/junit-unit.xml')).toEqual({ tests: 1, failures: 0, skipped: 0, names: ['adds'] })
  })

  test('the weekly comprehensive lane runs every category once per version, with one combined report', async () => {
    const out = await runLikeCi(runStep('comprehensive', 'pgrig run'))
    expect(out.code, out.stdout + out.stderr).toBe(0)
    expect(out.stdout).toMatch(/^pg15 \| /m)
    expect(out.stdout).toMatch(/^pg18 \| /m)
    for (const pg of ['15', '18']) {
      expect(junit(`pgrig-report/pg${pg}/junit.xml`)).toMatchObject({ tests: 5, failures: 0, skipped: 0 })
    }
    expect(out.stderr).toContain(
      `pgrig: combined report ${path.join(fs.realpathSync(project), 'pgrig-report')}`,
    )
    const combined = fs.readFileSync(path.join(project, 'pgrig-report/report.md'), 'utf8')
    expect(combined).toMatch(/^\| pg15 \| 15\.\d+ \| passed \| 5 \| 0 \| 0 \| 0 \|/m)
    expect(combined).toMatch(/^\| pg18 \| 18\.\d+ \| passed \| 5 \| 0 \| 0 \| 0 \|/m)
    expect(fs.existsSync(path.join(project, 'pgrig-report/report.html'))).toBe(true)
  })
})
