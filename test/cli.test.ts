import { execFile, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { afterAll, describe, expect, onTestFinished, test } from 'vitest'
import { isAlive, waitUntil } from '../src/servers/process-alive.js'
import { listRuns } from '../src/servers/run-dir.js'
import { privateRunRoot } from './support/run-root.js'
import { CLI, pgrig } from './support/cli.js'

// `down --all` below must not stop the servers of test files running at the same time.
privateRunRoot('cli')

const exec = promisify(execFile)

async function selectOne(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  const { rows } = await client.query('select 1 as one')
  await client.end()
  return rows[0].one
}

const runIds = new Set<string>()
afterAll(async () => {
  if (runIds.size) await pgrig(['down', '--all'])
})

/** A folder of this test's own, removed when the test ends, passed or failed. */
function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

describe('pgrig up / status / env / down', () => {
  test('three up calls add three servers; down --all stops every one', async () => {
    const names = ['cli-plain', 'cli-tls', 'cli-cert']
    const profiles = ['plain', 'tls', 'client-cert']
    const outs = await Promise.all(
      names.map((name, i) => pgrig(['up', '--json', '--name', name, '--profile', profiles[i]!])),
    )
    const servers = outs.map((out) => {
      expect(out.code, out.stderr).toBe(0)
      const parsed = JSON.parse(out.stdout)
      runIds.add(parsed.runId)
      return parsed.servers[0]
    })
    for (const server of servers) expect(await selectOne(server.url)).toBe(1)
    expect(servers[1].tls).toMatchObject({ mode: 'on' })
    expect(servers[2].tls).toMatchObject({ mode: 'required' })

    const status = await pgrig(['status'])
    for (const name of names) expect(status.stdout).toMatch(new RegExp(`^${name}\\s+running`, 'm'))
    expect(status.stdout).not.toContain(servers[0].password)

    const env = JSON.parse((await pgrig(['env', '--format', 'json', '--name', 'cli-tls'])).stdout)
    expect(env.DATABASE_URL).toBe(servers[1].url)
    expect(env.PGSSLROOTCERT).toBe(servers[1].tls.caFile)
    expect(env.PGRIG_CLI_CERT_URL).toBe(servers[2].url)
    expect(env.PGRIG_CLI_CERT_SUPERUSER_URL).toBe(servers[2].superuser.url)
    const sh = (await pgrig(['env', '--name', 'cli-plain'])).stdout
    const { stdout } = await exec('sh', ['-c', `${sh}\necho "$PGPORT"`])
    expect(stdout.trim()).toBe(String(servers[0].port))

    const taken = await pgrig(['up', '--name', 'cli-plain'])
    expect(taken.code).toBe(1)
    expect(taken.stderr).toMatch(/cli-plain is already running/)

    const down = await pgrig(['down', 'cli-plain'])
    expect(down.code).toBe(0)
    expect(await waitUntil(() => !isAlive(servers[0].pid), 5000)).toBe(true)
    expect(isAlive(servers[1].pid)).toBe(true)

    expect((await pgrig(['down', '--all'])).code).toBe(0)
    for (const server of servers) expect(isAlive(server.pid)).toBe(false)
    for (const server of servers) expect(fs.existsSync(server.dataDir)).toBe(false)
    expect(listRuns().filter((r) => runIds.has(r.runId))).toEqual([])
  })
})

describe('pgrig run', () => {
  test('exports the connection, propagates the exit code and stops its servers', async () => {
    const script =
      'console.log(JSON.stringify({url: process.env.DATABASE_URL, named: process.env.PGRIG_WEB_URL, port: process.env.PGPORT}))'
    const out = await pgrig(['run', '--name', 'web', '--', process.execPath, '-e', script])
    expect(out.code, out.stderr).toBe(0)
    const seen = JSON.parse(out.stdout)
    expect(seen.named).toBe(seen.url)
    await expect(selectOne(seen.url)).rejects.toThrow()
    expect((await pgrig(['run', '--', 'sh', '-c', 'exit 7'])).code).toBe(7)
  })

  test('a Python test under pgrig run creates its own database with PGRIG_<NAME>_SUPERUSER_URL', async () => {
    // What a Python team gets: DATABASE_URL / PG* for the app user, the superuser URL for CREATE DATABASE.
    const script = [
      'import os, psycopg',
      "with psycopg.connect(os.environ['PGRIG_PY_SUPERUSER_URL'], autocommit=True) as admin:",
      "    admin.execute('create database py_tests owner app')",
      "url = os.environ['DATABASE_URL'].rsplit('/', 1)[0] + '/py_tests'",
      'with psycopg.connect(url) as conn:',
      "    print(conn.execute('select current_user, current_database()').fetchone())",
      'with psycopg.connect() as conn:',
      "    print(conn.execute('select rolsuper from pg_roles where rolname = current_user').fetchone())",
    ].join('\n')
    const out = await pgrig(['run', '--name', 'py', '--', '/usr/bin/python3', '-c', script])
    expect(out.code, out.stderr).toBe(0)
    expect(out.stdout.trim().split('\n')).toEqual(["('app', 'py_tests')", '(False,)'])
  })

  test('a config file starts the trio, one line each, seeded by the same init SQL', async () => {
    const dir = tempDir('pgrig-config-')
    fs.writeFileSync(
      path.join(dir, 'seed.sql'),
      'create table seeded (v int); insert into seeded values (7);\n',
    )
    fs.writeFileSync(
      path.join(dir, 'pgrig.config.ts'),
      `import type { PgrigConfig } from '${path.resolve('src/index.js')}'
const config: PgrigConfig = {
  initSql: ['seed.sql'],
  servers: {
    plain: { profile: 'plain' },
    tls: { profile: 'tls' },
    cert: { profile: 'client-cert' },
  },
}
export default config
`,
    )
    // Each server's superuser sees the seeded row through the exported PGRIG_<NAME>_* variables.
    const script = `
      const pg = require(${JSON.stringify(path.resolve('node_modules/pg'))});
      (async () => {
        const seen = []
        for (const n of ['PLAIN', 'TLS', 'CERT']) {
          const url = new URL(process.env['PGRIG_' + n + '_URL'])
          const c = new pg.Client({ connectionString: process.env['PGRIG_' + n + '_URL'] })
          await c.connect()
          seen.push((await c.query('select current_user as u')).rows[0].u + '@' + url.port)
          await c.end()
        }
        console.log(seen.length === 3 && process.env.DATABASE_URL === process.env.PGRIG_PLAIN_URL ? 'yyy' : 'no')
      })()`
    const out = await pgrig(['run', '--', process.execPath, '-e', script], { cwd: dir })
    expect(out.code, out.stderr).toBe(0)
    expect(out.stdout.trim()).toBe('yyy')
  })

  test('--url passes an external server through untouched; a non-PostgreSQL URL is refused', async () => {
    const up = JSON.parse((await pgrig(['up', '--json', '--name', 'ext-target'])).stdout)
    const target = up.servers[0]
    const out = await pgrig([
      'run',
      '--url',
      target.url,
      '--name',
      'shared',
      '--',
      'sh',
      '-c',
      'echo "$PGRIG_SHARED_URL $PGPORT"',
    ])
    expect(out.code, out.stderr).toBe(0)
    expect(out.stdout.trim()).toBe(`${target.url} ${target.port}`)
    expect(isAlive(target.pid)).toBe(true)
    expect(await selectOne(target.url)).toBe(1)
    await pgrig(['down', 'ext-target'])
    const sqlite = await pgrig(['run', '--url', 'sqlite:///tmp/app.db', '--', 'true'])
    expect(sqlite.code).toBe(1)
    expect(sqlite.stderr.trim()).toMatch(/sqlite URLs are not PostgreSQL/)
  })

  test('--url with --tls: the exported TLS variables are what the URL connects with', async () => {
    const up = JSON.parse((await pgrig(['up', '--json', '--name', 'ext-tls', '--profile', 'tls'])).stdout)
    const target = up.servers[0]
    runIds.add(up.runId)
    const show = ['sh', '-c', 'echo "$PGSSLMODE ${PGSSLROOTCERT:-none} ${PGSSLCERT:-none}"']
    const out = await pgrig(['run', '--url', target.url, '--tls', 'on', '--', ...show])
    expect(out.code, out.stderr).toBe(0)
    expect(out.stdout.trim()).toBe(`verify-full ${target.tls.caFile} none`)
    const plain = await pgrig(['run', '--url', target.url.split('?')[0], '--tls', 'on', '--', ...show])
    expect(plain.code).toBe(1)
    expect(plain.stderr.trim()).toMatch(
      /^pgrig: .*tls on was asked, but this URL connects without TLS; add \?sslmode=/,
    )
    await pgrig(['down', 'ext-tls'])
  })

  test('--keep leaves the server up for pgrig down', async () => {
    const out = await pgrig(['run', '--keep', '--name', 'kept', '--', 'sh', '-c', 'echo $DATABASE_URL'])
    expect(out.code, out.stderr).toBe(0)
    expect(await selectOne(out.stdout.trim())).toBe(1)
    expect((await pgrig(['down', 'kept'])).code).toBe(0)
    await expect(selectOne(out.stdout.trim())).rejects.toThrow()
  })
})

function postmasterOf(runId: string): number | undefined {
  return listRuns().find((r) => r.runId === runId)?.servers[0]?.pid ?? undefined
}

describe('servers die with their owner, even on SIGKILL', () => {
  async function ownerKilled(args: string[]): Promise<void> {
    const before = new Set(listRuns().map((r) => r.runId))
    const owner = spawn(process.execPath, args, { stdio: 'ignore' })
    let runId: string | undefined
    let pid: number | undefined
    await waitUntil(
      () => {
        runId = listRuns().find(
          (r) => !before.has(r.runId) && r.ownerPid === owner.pid && r.servers[0]?.pid,
        )?.runId
        pid = runId ? postmasterOf(runId) : undefined
        return pid !== undefined
      },
      // a loaded CI machine can take this long to start node and a server
      45_000,
      20,
    )
    expect(pid).toBeDefined()
    // ready: the url answers
    await waitUntil(
      () => fs.existsSync(path.join(listRuns().find((r) => r.runId === runId)!.servers[0]!.socketDir!)),
      5000,
    )
    owner.kill('SIGKILL')
    expect(await waitUntil(() => !isAlive(pid!), 15_000, 50)).toBe(true)
    expect(await waitUntil(() => !listRuns().some((r) => r.runId === runId), 5_000, 50)).toBe(true)
  }

  test('pgrig run killed with SIGKILL', async () => {
    await ownerKilled([CLI, 'run', '--', 'sleep', '60'])
  })

  test('a library user killed with SIGKILL', async () => {
    const code = `import { startServer } from ${JSON.stringify(path.resolve('dist/index.js'))}; await startServer(); setInterval(() => {}, 1000)`
    await ownerKilled(['--input-type=module', '-e', code])
  })
})

describe('user mistakes end in one line and a non-zero exit, with nothing left running', () => {
  const cases: [string, string[], RegExp, NodeJS.ProcessEnv?][] = [
    ['unknown major', ['up', '--pg', '99'], /PostgreSQL 99 is not published/],
    ['unknown profile', ['up', '--profile', 'nonsense'], /profile/],
    ['port out of range', ['up', '--port', '70000'], /port/],
    ['unreadable init SQL', ['run', '--init-sql', '/nonexistent.sql', '--', 'true'], /cannot be read/],
    ['client cert without TLS', ['up', '--client-cert', 'verify-ca', '--tls', 'off'], /needs TLS/],
    ['missing config file', ['up', '--config', '/nonexistent/pgrig.config.json'], /does not exist/],
    ['no unprivileged user', ['up'], /PGRIG_RUN_AS=nosuchuser/, { PGRIG_RUN_AS: 'nosuchuser' }],
    ['unknown command', ['run', '--quiet', '--', 'no-such-command-pgrig'], /was not found/],
  ]
  test.each(cases)('%s', async (_label, args, message, env) => {
    if (env?.PGRIG_RUN_AS && process.getuid?.() !== 0) return
    // A run root of its own, so other test files' runs do not blur what this one leaves behind.
    const root = tempDir('pgrig-mistake-')
    fs.chmodSync(root, 0o755)
    const out = await pgrig(args, { env: { ...env, PGRIG_RUN_ROOT: root } })
    const left = fs.readdirSync(root)
    expect(out.code).not.toBe(0)
    const lines = out.stderr.trim().split('\n')
    expect(lines, out.stderr).toHaveLength(1)
    expect(lines[0]).toMatch(message)
    expect(out.stderr).not.toMatch(/^\s+at /m)
    expect(left).toEqual([])
  })

  test('a command that does not exist exits 127, as in a shell', async () => {
    const out = await pgrig(['run', '--quiet', '--', 'no-such-command-pgrig'])
    expect(out.code).toBe(127)
  })

  test('a run root the server user cannot enter is named before anything starts', async () => {
    if (process.getuid?.() !== 0) return
    const root = tempDir('pgrig-closed-')
    fs.chmodSync(root, 0o700)
    const out = await pgrig(['up'], { env: { PGRIG_RUN_ROOT: root } })
    const left = fs.readdirSync(root)
    expect(out.code).toBe(1)
    expect(out.stderr.trim().split('\n')).toHaveLength(1)
    expect(out.stderr).toMatch(new RegExp(`cannot enter ${root} \\(mode 0700\\).*PGRIG_RUN_ROOT`))
    expect(left).toEqual([])
  })

  test('a bad key in a config file names the key', async () => {
    const dir = tempDir('pgrig-badconfig-')
    fs.writeFileSync(path.join(dir, 'pgrig.config.json'), JSON.stringify({ servers: { a: { prot: 5441 } } }))
    const out = await pgrig(['up'], { cwd: dir })
    expect(out.code).toBe(1)
    expect(out.stderr.trim()).toMatch(/unknown option prot at servers\.a/)
  })
})

describe('secrets', () => {
  test('a password with reserved characters gives a URL clients accept; status --json hides it unless --show-secrets', async () => {
    const password = 'p@:/?#%x&=+ ab%41'
    const up = await pgrig(['up', '--json', '--name', 'cli-secret', '--password', password])
    expect(up.code, up.stderr).toBe(0)
    const { runId, servers } = JSON.parse(up.stdout)
    runIds.add(runId)
    expect(await selectOne(servers[0].url)).toBe(1)
    const { stdout: psql } = await exec('psql', [servers[0].url, '-tAc', 'select current_user'])
    expect(psql.trim()).toBe('app')
    const hidden = await pgrig(['status', '--json'])
    expect(hidden.stdout).not.toContain(servers[0].superuser.password)
    expect(hidden.stdout).not.toContain(encodeURIComponent(password))
    const shown = await pgrig(['status', '--json', '--show-secrets'])
    expect(
      JSON.parse(shown.stdout).servers.find((s: { name: string }) => s.name === 'cli-secret').password,
    ).toBe(password)
    expect((await pgrig(['down', 'cli-secret'])).code).toBe(0)
  })
})

describe('pgrig --version', () => {
  test('--version and -V print the version in package.json, one line, exit 0', async () => {
    const { version } = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
    for (const flag of ['--version', '-V']) {
      const out = await pgrig([flag])
      expect(out.code, out.stderr).toBe(0)
      expect(out.stdout).toBe(`${version}\n`)
    }
  })
})
