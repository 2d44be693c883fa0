import { execFile, spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { fixtureProject, repoRoot } from './support/fixture-project.js'
import { privateRunRoot } from './support/run-root.js'

// pytest-pgrig (python/) as a Python team installs it: a fresh venv over Debian's pytest, psycopg,
// xdist, SQLAlchemy, asyncpg, alembic and redis; `pip install --no-build-isolation python/`; then
// plain `pytest` (no `pgrig run`) in fixture projects whose node_modules has this checkout as pgrig.
privateRunRoot('pytest-plugin')

const exec = promisify(execFile)
const PYTHON = '/usr/bin/python3'
let work: string
let venvPython: string

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-pytest-'))
  // A copy: pip's in-tree build writes egg-info next to the sources.
  fs.cpSync(path.join(repoRoot, 'python'), path.join(work, 'package'), { recursive: true })
  await exec(PYTHON, ['-m', 'venv', '--system-site-packages', '--without-pip', path.join(work, 'venv')])
  venvPython = path.join(work, 'venv', 'bin', 'python')
  // Debian's pip installs into the venv (ensurepip would cost ~10 s more here); no index: the
  // dependencies are Debian's, as a CI image has them.
  await exec(PYTHON, [
    '-m',
    'pip',
    '--python',
    venvPython,
    'install',
    '-q',
    '--no-build-isolation',
    '--no-index',
    path.join(work, 'package'),
  ])
}, 120_000)

afterAll(() => {
  for (const dir of [work, ...copies]) if (dir) fs.rmSync(dir, { recursive: true, force: true })
})

interface Result {
  code: number
  output: string
}

/** Plain `pytest` in a fixture project, as its team runs it (no PGRIG_BIN: node_modules/pgrig is found). */
async function pytest(dir: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Result> {
  try {
    const { stdout, stderr } = await exec(
      venvPython,
      ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', ...args],
      {
        cwd: dir,
        env: { ...process.env, ...env },
        maxBuffer: 16 * 1024 * 1024,
      },
    )
    return { code: 0, output: stdout + stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, output: e.stdout + e.stderr }
  }
}

/** The fixture copies this file made, removed with the venv at the end. */
const copies: string[] = []

function project(name: string): string {
  const dir = fixtureProject(name, { install: 'link' })
  copies.push(dir)
  return dir
}

function passed(output: string): number {
  return Number(/(\d+) passed/.exec(output)?.[1] ?? 0)
}

/** `worker database` lines the fixture tests wrote. */
function seen(file: string): { worker: string; database: string }[] {
  return fs
    .readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((line) => {
      const [worker = '', database = ''] = line.split(' ')
      return { worker, database }
    })
}

describe('plain pytest -p xdist -n 2 (no pgrig run): pgrig starts once, every worker shares the pool', () => {
  test(
    'SQL migrations: each test its own migrated database, a row written in one absent in the next',
    {
      timeout: 120_000,
    },
    async () => {
      const dir = project('pytest-xdist')
      const file = path.join(dir, 'seen.txt')
      const out = await pytest(dir, ['-p', 'xdist', '-n', '2'], { PGRIG_FIXTURE_SEEN: file })
      expect(out.code, out.output).toBe(0)
      expect(passed(out.output)).toBe(20)
      const rows = seen(file)
      expect(rows).toHaveLength(12)
      expect(new Set(rows.map((r) => r.database)).size).toBe(12)
      expect(new Set(rows.map((r) => r.worker))).toEqual(new Set(['gw0', 'gw1']))
    },
  )

  test(
    '(a) Redis + async SQLAlchemy: db_session and redis reset per test',
    { timeout: 120_000 },
    async () => {
      const out = await pytest(project('pytest-redis-sqlalchemy'), ['-p', 'xdist', '-n', '2'])
      expect(out.code, out.output).toBe(0)
      expect(passed(out.output)).toBeGreaterThanOrEqual(8)
    },
  )

  test(
    '(b) alembic, RLS, an append-only audit table, pool exhaustion, isolation levels',
    { timeout: 120_000 },
    async () => {
      const dir = project('pytest-alembic')
      const file = path.join(dir, 'seen.txt')
      // The migrate command runs once for both workers: the wrapper logs each run.
      const ini = path.join(dir, 'pytest.ini')
      fs.writeFileSync(
        ini,
        fs
          .readFileSync(ini, 'utf8')
          .replace(
            'pgrig_migrate_command = python -m alembic.config upgrade head',
            `pgrig_migrate_command = sh -c "echo ran >> migrate.log && python -m alembic.config upgrade head"`,
          ),
      )
      const out = await pytest(dir, ['-p', 'xdist', '-n', '2'], { PGRIG_FIXTURE_SEEN: file })
      expect(out.code, out.output).toBe(0)
      expect(passed(out.output)).toBe(14)
      expect(fs.readFileSync(path.join(dir, 'migrate.log'), 'utf8')).toBe('ran\n')
      const rows = seen(file)
      expect(new Set(rows.map((r) => r.database)).size).toBe(8)
    },
  )

  test(
    '(c) plain, TLS and client-cert servers on fixed ports, verify-full',
    { timeout: 120_000 },
    async () => {
      const out = await pytest(project('pytest-tls-trio'), [])
      expect(out.code, out.output).toBe(0)
      expect(passed(out.output)).toBe(6)
    },
  )
})

describe('one line for a mistake, before any test runs', () => {
  test('a failing SQL migration names the file and the line', { timeout: 60_000 }, async () => {
    const dir = project('pytest-xdist')
    fs.writeFileSync(
      path.join(dir, 'migrations', '003_bad.sql'),
      'select 1;\n\ninsert into authors (name) values (tabel;\n',
    )
    const out = await pytest(dir, ['-p', 'xdist', '-n', '2'])
    expect(out.code).toBe(4)
    expect(out.output).toMatch(
      /^ERROR: pgrig: migration migrations\/003_bad\.sql failed at line 3: syntax error at or near ";"; fix it/m,
    )
    expect(out.output).not.toMatch(/Traceback/)
  })

  test(
    'a failing migrate command names the migration file and line the tool reported',
    { timeout: 60_000 },
    async () => {
      const dir = project('pytest-alembic')
      const version = path.join(dir, 'alembic', 'versions', '002_audit.py')
      fs.writeFileSync(
        version,
        fs.readFileSync(version, 'utf8').replace('create table audit', 'create tabel audit'),
      )
      const out = await pytest(dir, [])
      expect(out.code).toBe(4)
      expect(out.output).toMatch(
        /^ERROR: pgrig: the migrate command 'python -m alembic\.config upgrade head' failed \(exit 1\) at alembic\/versions\/002_audit\.py line \d+: sqlalchemy\.exc\.ProgrammingError: .*syntax error/m,
      )
    },
  )

  test('a failing pytest_pgrig_template hook names the conftest line', { timeout: 60_000 }, async () => {
    const dir = project('pytest-tls-trio')
    const conftest = path.join(dir, 'tests', 'conftest.py')
    fs.writeFileSync(conftest, fs.readFileSync(conftest, 'utf8').replace("'theme', 'dark'", "'theme'"))
    const out = await pytest(dir, [])
    expect(out.code).toBe(4)
    expect(out.output).toMatch(
      /^ERROR: pgrig: pytest_pgrig_template failed at tests\/conftest\.py line 9: NotNullViolation: null value in column "value"/m,
    )
  })

  test(
    'an alembic project without pgrig_migrate_command is told to set it',
    { timeout: 60_000 },
    async () => {
      const dir = project('pytest-alembic')
      fs.writeFileSync(path.join(dir, 'pytest.ini'), '[pytest]\ntestpaths = tests\n')
      const out = await pytest(dir, [])
      expect(out.code).toBe(4)
      expect(out.output).toMatch(
        /^ERROR: pgrig: this project migrates with alembic, but pgrig_migrate_command is not set/m,
      )
    },
  )

  test('an isolation mode pytest-pgrig does not offer is refused', async () => {
    const out = await pytest(project('pytest-xdist'), ['--pgrig-isolation=truncate'])
    expect(out.code).toBe(4)
    expect(out.output.trim().split('\n')).toEqual([
      expect.stringMatching(
        /^ERROR: pgrig: --pgrig-isolation=truncate is not an isolation mode pytest-pgrig offers; use database/,
      ),
    ])
  })

  test('no pgrig in the project: one line saying how to get one', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-nopgrig-'))
    fs.cpSync(path.join(repoRoot, 'test', 'fixtures', 'pytest-xdist'), dir, { recursive: true })
    // -p no:pgrig_report: that module (report.py) meets the missing PGRIG_BIN first, with a traceback of its own.
    const out = await pytest(dir, ['-p', 'no:pgrig_report'], { PGRIG_BIN: path.join(dir, 'no-such-pgrig') })
    fs.rmSync(dir, { recursive: true, force: true })
    expect(out.code).toBe(4)
    expect(out.output).toMatch(
      /^ERROR: pgrig: cannot run .*no-such-pgrig: No such file or directory; fix --pgrig-bin/m,
    )
  })
})

describe('isolation and the template key', () => {
  test(
    'transaction isolation: rolled back per test; a URL fixture under it is refused in one line',
    {
      timeout: 60_000,
    },
    async () => {
      const dir = project('pytest-xdist')
      fs.writeFileSync(
        path.join(dir, 'tests', 'test_refused.py'),
        'def test_a_url_cannot_be_rolled_back(pgrig_db_url):\n    pass\n',
      )
      const out = await pytest(dir, [
        '--pgrig-isolation=transaction',
        'tests/test_transaction.py',
        'tests/test_refused.py',
      ])
      expect(out.code).toBe(1)
      expect(out.output).toMatch(/6 passed/)
      expect(out.output).toMatch(
        /pgrig: pgrig_db_url is a URL other connections use, and transaction isolation rolls back only pgrig_db's one connection; use pgrig_db, or mark the test @pytest\.mark\.pgrig_isolation\("database"\)/,
      )
    },
  )

  test('the template hash covers the migrations, the command and the server version, nothing else', async () => {
    const dir = project('pytest-alembic')
    const script = `
import json, pathlib, sys
from pytest_pgrig.template import template_source, template_hash
root = pathlib.Path(sys.argv[1])
def h(command="alembic upgrade head", version="180004"):
    return template_hash(template_source(root, ["alembic.ini", "alembic"], command), version)
out = {"base": h(), "again": h()}
(root / "tests" / "test_app.py").write_text("# a test changed\\n")
out["test changed"] = h()
(root / "alembic" / "__pycache__").mkdir(exist_ok=True)
(root / "alembic" / "__pycache__" / "env.cpython-311.pyc").write_bytes(b"bytecode")
out["bytecode"] = h()
v = root / "alembic" / "versions" / "002_audit.py"
v.write_text(v.read_text() + "\\n# a migration changed\\n")
out["migration changed"] = h()
out["command changed"] = h("alembic upgrade 001")
out["server changed"] = h(version="170006")
print(json.dumps(out))
`
    const { stdout } = await exec(venvPython, ['-c', script, dir])
    const hashes = JSON.parse(stdout) as Record<string, string>
    expect(hashes.again).toBe(hashes.base)
    expect(hashes['test changed']).toBe(hashes.base)
    expect(hashes.bytecode).toBe(hashes.base)
    const changed = [hashes['migration changed'], hashes['command changed'], hashes['server changed']]
    expect(new Set([hashes.base, ...changed]).size).toBe(4)
  })
})

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    socket.once('connect', () => (socket.destroy(), resolve(true)))
    socket.once('error', () => resolve(false))
  })
}

describe('SIGKILL of pytest', () => {
  test.each([
    ['plain pytest', []],
    ['pytest -n 2 (the controller killed)', ['-p', 'xdist', '-n', '2']],
  ])('%s leaves no server, service or database behind', { timeout: 120_000 }, async (_label, args) => {
    const dir = project('pytest-redis-sqlalchemy')
    const info = path.join(dir, 'info.json')
    fs.writeFileSync(
      path.join(dir, 'tests', 'test_hold.py'),
      [
        'import json, os, time',
        'def test_hold(pgrig_db_url, pgrig_redis_url):',
        `    open(${JSON.stringify(info)} + ".tmp", "w").write(json.dumps({k: os.environ[k] for k in ("PGPORT", "REDIS_URL", "PGRIG_RUN_ID")}))`,
        `    os.replace(${JSON.stringify(info)} + ".tmp", ${JSON.stringify(info)})`,
        '    time.sleep(120)',
        '',
      ].join('\n'),
    )
    // pgrig's stderr log is a file without a name: nothing of it is left in the temp folder either.
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-killed-pytest-'))
    fs.chmodSync(tmp, 0o755)
    const child = spawn(
      venvPython,
      ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', ...args, 'tests/test_hold.py'],
      {
        cwd: dir,
        stdio: 'ignore',
        env: { ...process.env, TMPDIR: tmp },
      },
    )
    for (let i = 0; !fs.existsSync(info) && i < 1200; i++) await new Promise((r) => setTimeout(r, 50))
    const held = JSON.parse(fs.readFileSync(info, 'utf8')) as Record<string, string>
    const redisPort = Number(/:(\d+)/.exec(held.REDIS_URL!)![1])
    expect(await listening(Number(held.PGPORT))).toBe(true)
    expect(await listening(redisPort)).toBe(true)
    child.kill('SIGKILL')
    const runProcesses = async () =>
      (await exec('ps', ['-eo', 'pid,args'])).stdout.split('\n').filter((l) => l.includes(held.PGRIG_RUN_ID!))
    let left: string[] = []
    for (let i = 0; i < 300; i++) {
      left = await runProcesses()
      if (left.length === 0 && !(await listening(Number(held.PGPORT))) && !(await listening(redisPort))) break
      await new Promise((r) => setTimeout(r, 100))
    }
    expect(left).toEqual([])
    expect(await listening(Number(held.PGPORT))).toBe(false)
    expect(await listening(redisPort)).toBe(false)
    expect(fs.readdirSync(tmp).filter((name) => name.startsWith('pgrig-pytest-'))).toEqual([])
    fs.rmSync(tmp, { recursive: true, force: true })
  })
})

describe('under pgrig run', () => {
  test.each([
    ['--serve: the plugin reuses the exported pool and starts nothing', ['--serve'], 'False'],
    [
      'without --serve (the version matrix, say): the plugin adds only the pool, over the run’s server',
      [],
      'False',
    ],
  ])('%s', { timeout: 120_000 }, async (_label, flags, started) => {
    const dir = project('pytest-xdist')
    fs.writeFileSync(
      path.join(dir, 'tests', 'test_reuse.py'),
      [
        'import os',
        'def test_reused(pgrig_session, pgrig_db_url):',
        `    assert str(pgrig_session.started) == ${JSON.stringify(started)}`,
        '    run_port = os.environ["PGRIG_MAIN_PORT"]',
        '    assert f":{run_port}/" in pgrig_db_url  # the run’s own server',
        '',
      ].join('\n'),
    )
    const CLI = path.join(repoRoot, 'dist', 'cli', 'main.js')
    let out: Result
    try {
      const { stdout, stderr } = await exec(
        process.execPath,
        [
          CLI,
          'run',
          ...flags,
          '--quiet',
          '--',
          venvPython,
          '-m',
          'pytest',
          '-q',
          '-p',
          'no:cacheprovider',
          '-p',
          'xdist',
          '-n',
          '2',
        ],
        { cwd: dir, env: { ...process.env, PGRIG_FIXTURE_SEEN: path.join(dir, 'seen.txt') } },
      )
      out = { code: 0, output: stdout + stderr }
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string }
      out = { code: e.code, output: e.stdout + e.stderr }
    }
    expect(out.code, out.output).toBe(0)
    expect(passed(out.output)).toBe(21)
  })
})
