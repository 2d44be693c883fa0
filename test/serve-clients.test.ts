import { execFile, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest'
import { startServer, type StartedServer } from '../src/servers/start-server.js'
import { privateRunRoot } from './support/run-root.js'

// Any-language clients of `pgrig serve`, through the built CLI: a pytest suite over plain HTTP,
// the npm IntegreSQL client from 10 processes, and two runs of a CI fleet sharing one server.
privateRunRoot('serve-clients')

const exec = promisify(execFile)
const CLI = path.resolve('dist/cli/main.js')
const PYTHON = '/usr/bin/python3' // Debian's, with python3-pytest, python3-psycopg, python3-requests

async function pgrig(args: string[], env: NodeJS.ProcessEnv = {}) {
  try {
    const { stdout, stderr } = await exec(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
      maxBuffer: 16 * 1024 * 1024,
    })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

describe('pgrig run --serve', () => {
  test(
    'a pytest suite gets a fresh, migrated database per test over the API (100+ tests)',
    { timeout: 180_000 },
    async () => {
      const out = await pgrig([
        'run',
        '--serve',
        '--quiet',
        '--',
        PYTHON,
        '-m',
        'pytest',
        '-q',
        '-p',
        'no:cacheprovider',
        'test/serve-pytest',
      ])
      // pytest's exit 5 (no tests collected) is a failure too.
      expect(out.code, out.stdout + out.stderr).toBe(0)
      const passed = Number(/(\d+) passed/.exec(out.stdout)?.[1] ?? 0)
      expect(passed).toBeGreaterThanOrEqual(100)
      expect(out.stdout).not.toMatch(/failed|error/)
    },
  )

  test(
    'the npm IntegreSQL client: 10 processes share one template, migrated once cold and never warm',
    { timeout: 180_000 },
    async () => {
      const out = await pgrig(
        ['run', '--serve', '--quiet', '--', process.execPath, 'test/fixtures/integresql-node/fleet.mjs'],
        {
          INTEGRESQL_TEST_MAX_POOL_SIZE: '24',
        },
      )
      expect(out.code, out.stdout + out.stderr).toBe(0)
      expect(JSON.parse(out.stdout.trim())).toEqual({ processes: 10, cold: 1, warm: 0 })
    },
  )
})

describe('pgrig serve: user mistakes are one line, before any server starts', () => {
  test.each([
    [['serve', '--url', 'postgres://u:p@db.example:5432/x'], /--allow-external/],
    [['serve', '--port', 'abc'], /--port abc is not a TCP port/],
    [
      ['serve', '--port', '0'],
      /INTEGRESQL_TEST_MAX_POOL_SIZE=zero is not a whole number/,
      { INTEGRESQL_TEST_MAX_POOL_SIZE: 'zero' },
    ],
    [
      ['serve', '--port', '0'],
      /INTEGRESQL_TEST_DB_FORCE_RETURN=maybe is not true or false/,
      { INTEGRESQL_TEST_DB_FORCE_RETURN: 'maybe' },
    ],
  ] as [string[], RegExp, Record<string, string>?][])('%j', async (args, message, env = {}) => {
    const out = await pgrig([...args], env)
    expect(out.code).toBe(1)
    expect(out.stderr).toMatch(message)
    expect(out.stderr.trim().split('\n')).toHaveLength(1)
  })
})

describe('one shared server for a CI fleet', () => {
  let shared: StartedServer
  beforeAll(async () => {
    shared = await startServer({ name: 'fleet-shared', quiet: true })
  })
  afterAll(() => shared?.stop())

  function runRoot(): string {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-rr-fleet-'))
    fs.chmodSync(root, 0o755)
    onTestFinished(() => fs.rmSync(root, { recursive: true, force: true }))
    return root
  }

  function holder(dir: string, me: string, other: string) {
    const child = spawn(
      process.execPath,
      [
        CLI,
        'run',
        '--url',
        shared.superuser.url,
        '--allow-external',
        '--serve',
        '--quiet',
        '--',
        process.execPath,
        'test/fixtures/integresql-node/holder.mjs',
        dir,
        me,
        other,
      ],
      { env: { ...process.env, PGRIG_RUN_ROOT: runRoot() }, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let output = ''
    child.stdout.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr.on('data', (d: Buffer) => (output += d.toString()))
    return new Promise<{ code: number | null; output: string }>((resolve) =>
      child.on('exit', (code) => resolve({ code, output })),
    )
  }

  test(
    'two runs with different run roots: each one’s clones survive the other’s start',
    { timeout: 180_000 },
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-fleet-'))
      onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }))
      const first = holder(dir, 'a', 'b')
      for (let i = 0; !fs.existsSync(path.join(dir, 'a.ready')) && i < 1200; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      const second = holder(dir, 'b', 'a')
      const [a, b] = await Promise.all([first, second])
      expect(a.code, a.output).toBe(0)
      expect(b.code, b.output).toBe(0)
      expect(a.output).toMatch(/a: pgrig_\w+ survived b's start/)
    },
  )
})

describe('pgrig serve for a parent process (what pytest-pgrig runs)', () => {
  test(
    '--json --until-stdin-closes: one JSON line with the env, the config’s services up, all gone when stdin closes',
    { timeout: 120_000 },
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-serve-json-'))
      onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }))
      fs.writeFileSync(
        path.join(dir, 'pgrig.config.json'),
        JSON.stringify({
          extensions: ['postgres_fdw'],
          services: {
            redis: {
              command: [
                'redis-server',
                '--port',
                '{port}',
                '--bind',
                '127.0.0.1',
                '--save',
                '',
                '--dir',
                '{dir}',
              ],
              ready: { tcp: '{port}' },
              env: { REDIS_URL: 'redis://127.0.0.1:{port}' },
            },
          },
        }),
      )
      const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--json', '--until-stdin-closes'], {
        cwd: dir,
        stdio: ['pipe', 'pipe', 'pipe'],
      })
      let stdout = ''
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
      const line = await new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString()
          if (stdout.includes('\n')) resolve(stdout.split('\n')[0]!)
        })
        child.on('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)))
      })
      const ready = JSON.parse(line) as { baseUrl: string; version: string; env: Record<string, string> }
      expect(ready.env.INTEGRESQL_CLIENT_BASE_URL).toBe(ready.baseUrl)
      expect(Object.keys(ready.env)).toEqual(
        expect.arrayContaining([
          'DATABASE_URL',
          'PGPORT',
          'PGRIG_MAIN_SUPERUSER_URL',
          'REDIS_URL',
          'PGRIG_RUN_ID',
        ]),
      )
      // A template the API makes has the config's extensions, created by the superuser.
      const created = await fetch(`${ready.baseUrl}/v1/templates`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ hash: 'serve-json' }),
      })
      expect(created.status).toBe(200)
      const config = ((await created.json()) as { database: { config: Record<string, string | number> } })
        .database.config
      const { stdout: ext } = await exec('psql', [
        `postgresql://${config.username}:${config.password}@${config.host}:${config.port}/${config.database}`,
        '-Atc',
        "select extname from pg_extension where extname = 'postgres_fdw'",
      ])
      expect(ext.trim()).toBe('postgres_fdw')
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
      child.stdin.end()
      expect(await exited).toBe(0)
      // Its reaper (which finds nothing left to reap) follows it within moments.
      let left: string[] = []
      for (let i = 0; i < 100; i++) {
        const { stdout: ps } = await exec('ps', ['-eo', 'args'])
        left = ps.split('\n').filter((l) => l.includes(ready.env.PGRIG_RUN_ID!))
        if (left.length === 0) break
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      expect(left).toEqual([])
    },
  )
})
