import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { privateRunRoot } from './support/run-root.js'

// The driver matrix: every mainstream driver, installed from Debian (or npm for Node's), connects
// to the plain / tls / client-cert trio with what pgrig prints, as given: the URLs of `pgrig env`
// (what `pgrig run` exports), JDBC's own, the socket's. Each small program prints
// `<VAR> <user> <ssl> <client dn>` per connection (test/fixtures/drivers/check.sql).
privateRunRoot('drivers')

const exec = promisify(execFile)
const CLI = path.resolve('dist/cli/main.js')
const FIXTURES = path.resolve('test/fixtures/drivers')
const PYTHON = '/usr/bin/python3' // Debian's: python3-psycopg, python3-asyncpg, python3-sqlalchemy (+ psycopg2)
const JDBC_JAR = '/usr/share/java/postgresql.jar' // libpostgresql-jdbc-java
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-drivers-'))
const GO_BINARY = path.join(scratch, 'drivers-go')

let env: NodeJS.ProcessEnv
let goBuildMs = 0

async function run(command: string, args: string[], extra: NodeJS.ProcessEnv = {}) {
  const { stdout } = await exec(command, args, {
    env: { ...process.env, ...env, CHECK_SQL: path.join(FIXTURES, 'check.sql'), ...extra },
    cwd: FIXTURES,
    maxBuffer: 4 * 1024 * 1024,
  })
  return stdout.trim().split('\n')
}

/** Go in GOPATH mode from Debian's packages: no module proxy is reachable here. */
async function buildGo(): Promise<void> {
  const t0 = performance.now()
  await exec('go', ['build', '-o', GO_BINARY, '.'], {
    cwd: path.join(FIXTURES, 'go'),
    env: {
      ...process.env,
      GO111MODULE: 'off',
      GOFLAGS: '',
      GOPATH: `/usr/share/gocode:${path.join(scratch, 'gopath')}`,
    },
  })
  goBuildMs = performance.now() - t0
}

beforeAll(async () => {
  const up = async () => {
    const out = await exec(process.execPath, [CLI, 'up', '--json'], {
      cwd: path.resolve('examples/configs/trio'),
      env: process.env,
    })
    JSON.parse(out.stdout)
    const printed = await exec(process.execPath, [CLI, 'env', '--format', 'json'], { env: process.env })
    env = JSON.parse(printed.stdout) as NodeJS.ProcessEnv
  }
  await Promise.all([up(), buildGo()])
}, 180_000)

afterAll(async () => {
  await exec(process.execPath, [CLI, 'down', '--all'], { env: process.env }).catch(() => {})
  fs.rmSync(scratch, { recursive: true, force: true })
})

const URLS = ['PGRIG_PLAIN_URL', 'PGRIG_TLS_URL', 'PGRIG_CERT_URL', 'PGRIG_PLAIN_SOCKET_URL', 'DATABASE_URL']
/** Password over plain TCP, TLS verify-full, a client certificate (CN = app), the unix socket. */
const EXPECTED = [
  'PGRIG_PLAIN_URL app false -',
  'PGRIG_TLS_URL app true -',
  'PGRIG_CERT_URL app true /CN=app',
  'PGRIG_PLAIN_SOCKET_URL app false -',
  'DATABASE_URL app false -',
]

describe('every driver connects with the URL exactly as pgrig prints it', () => {
  test('the URLs name postgresql:// and always state sslmode', () => {
    expect(env.PGRIG_PLAIN_URL).toMatch(/^postgresql:\/\/app:[^@]+@127\.0\.0\.1:\d+\/app\?sslmode=disable$/)
    expect(env.PGSSLMODE).toBe('disable')
    expect(env.PGRIG_TLS_URL).toMatch(/^postgresql:\/\/.*\?sslmode=verify-full&sslrootcert=/)
    expect(env.PGRIG_CERT_SUPERUSER_URL).toMatch(
      /^postgresql:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/postgres\?/,
    )
    expect(env.PGRIG_PLAIN_SOCKET_URL).toMatch(
      /^postgresql:\/\/app:[^@]+@\/app\?host=%2F.*&port=\d+&sslmode=disable$/,
    )
    expect(fs.statSync(env.PGRIG_PLAIN_SOCKET_DIR!).isDirectory()).toBe(true)
    expect(env.PGRIG_CERT_JDBC_URL).toMatch(
      /^jdbc:postgresql:\/\/127\.0\.0\.1:\d+\/app\?user=app&password=.*&sslkey=.*client\.pk8$/,
    )
  })

  test(`Go lib/pq and pgx (GOPATH build from Debian's packages)`, async () => {
    expect(await run(GO_BINARY, ['pq', ...URLS])).toEqual(EXPECTED)
    expect(await run(GO_BINARY, ['pgx', ...URLS])).toEqual(EXPECTED)
    // Go's compile time counts toward this file's budget; warm (cached) it is a few seconds.
    console.log(`go build: ${Math.round(goBuildMs)} ms`)
  })

  test.each(['psycopg', 'asyncpg', 'sqlalchemy'])('Python %s', async (driver) => {
    expect(await run(PYTHON, ['drivers.py', driver, ...URLS])).toEqual(EXPECTED)
  })

  test('Ruby pg', async () => {
    expect(await run('ruby', ['drivers.rb', ...URLS])).toEqual(EXPECTED)
  })

  test('node-postgres', async () => {
    expect(await run(process.execPath, ['drivers.mjs', 'pg', ...URLS])).toEqual(EXPECTED)
  })

  test('postgres.js: the plain URL as printed; TLS and the socket from PGRIG_<NAME>_* (it reads no sslrootcert from a URL)', async () => {
    expect(
      await run(process.execPath, ['drivers.mjs', 'postgres', 'PGRIG_PLAIN_URL', 'DATABASE_URL']),
    ).toEqual(['PGRIG_PLAIN_URL app false -', 'DATABASE_URL app false -'])
    const prefixes = ['PGRIG_PLAIN', 'PGRIG_TLS', 'PGRIG_CERT']
    expect(await run(process.execPath, ['drivers.mjs', 'postgres-fields', ...prefixes])).toEqual([
      'PGRIG_PLAIN app false -',
      'PGRIG_TLS app true -',
      'PGRIG_CERT app true /CN=app',
    ])
    expect(await run(process.execPath, ['drivers.mjs', 'postgres-socket', 'PGRIG_PLAIN'])).toEqual([
      'PGRIG_PLAIN app false -',
    ])
  })

  test('Java JDBC with PGRIG_<NAME>_JDBC_URL (the client key as PKCS-8 DER, client.pk8)', async () => {
    const out = await run('java', [
      '-cp',
      JDBC_JAR,
      `-Dcheck.sql=${path.join(FIXTURES, 'check.sql')}`,
      'Drivers.java',
      'PGRIG_PLAIN_JDBC_URL',
      'PGRIG_TLS_JDBC_URL',
      'PGRIG_CERT_JDBC_URL',
    ])
    expect(out).toEqual([
      'PGRIG_PLAIN_JDBC_URL app false -',
      'PGRIG_TLS_JDBC_URL app true -',
      'PGRIG_CERT_JDBC_URL app true /CN=app',
    ])
  })
})

test('what IntegreSQL Go client does, against pgrig run --serve: template, migrate, test databases over lib/pq, unlock', async () => {
  const { stdout } = await exec(
    process.execPath,
    [CLI, 'run', '--serve', '--name', 'integresql', '--', GO_BINARY, 'integresql'],
    {
      env: { ...process.env, CHECK_SQL: path.join(FIXTURES, 'check.sql'), HASH_SUFFIX: String(process.pid) },
    },
  )
  const lines = stdout.trim().split('\n')
  expect(lines.slice(0, 2)).toEqual(['template 2', 'test 3 app false'])
  // unlock gives the database back as it is (IntegreSQL's ReturnTestDatabase): the second GET may get
  // that one again (its row added: 4) or a fresh clone (3), as the pool's timing has it.
  expect(lines[2]).toMatch(/^test [34] app false$/)
  expect(lines).toHaveLength(3)
})

test.skipIf(process.getuid?.() !== 0)(
  "run by a normal user (no drop to another account), the socket folder is that user's and the socket URL connects",
  { timeout: 120_000 },
  async () => {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-drivers-nobody-'))
    fs.chmodSync(home, 0o755)
    fs.chownSync(home, 65534, 65534)
    try {
      const script =
        'stat -c "%U %a" "$PGRIG_MAIN_SOCKET_DIR"; psql "$PGRIG_MAIN_SOCKET_URL" -Atc "select current_user"'
      const { stdout } = await exec(process.execPath, [CLI, 'run', '--quiet', '--', 'sh', '-c', script], {
        uid: 65534,
        gid: 65534,
        cwd: home,
        env: {
          ...process.env,
          HOME: home,
          PGRIG_RUN_ROOT: home,
          PGRIG_CACHE_DIR: path.join(home, 'cache'),
          PGRIG_TMPFS_DIR: path.join(home, 'shm'),
        },
      })
      expect(stdout.trim().split('\n')).toEqual(['nobody 700', 'app'])
    } finally {
      fs.rmSync(home, { recursive: true, force: true })
    }
  },
)
