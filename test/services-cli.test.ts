import { spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, onTestFinished, test } from 'vitest'
import { listCompanions } from '../src/servers/companions.js'
import { isAlive, isGroupAlive, waitUntil } from '../src/servers/process-alive.js'
import { listRuns } from '../src/servers/run-dir.js'
import { configProject } from './support/config-project.js'
import { privateRunRoot } from './support/run-root.js'
import { CLI, pgrig } from './support/cli.js'

// `down --all` below must not stop what other test files started.
privateRunRoot('services-cli')

const HTTP_SERVER = path.resolve('test/fixtures/services/http-server.mjs')

afterAll(async () => {
  await pgrig(['down', '--all'])
})

const project = (config: unknown) => configProject(config, 'services')

function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    socket.once('connect', () => (socket.destroy(), resolve(false)))
    socket.once('error', () => resolve(true))
  })
}

const node = process.execPath
const REDIS = {
  command: ['redis-server', '--port', '{port}', '--bind', '127.0.0.1', '--save', '', '--dir', '{dir}'],
  ready: { tcp: '{port}' },
  env: { REDIS_URL: 'redis://127.0.0.1:{port}/0' },
}
const API = {
  command: [node, HTTP_SERVER, '{port}', '200'],
  ready: { http: 'http://127.0.0.1:{port}/health' },
  env: { API_URL: 'http://127.0.0.1:{port}/', API_SECRET_KEY: 'supersecret', GREETING: 'from the api' },
}

describe('pgrig run with services', () => {
  test('starts them in after order, exports their env with the connection, and stops them after', async () => {
    const dir = project({
      services: {
        // listed first, run last: it needs the api, and sees its env and the server's DATABASE_URL
        init: {
          command: [
            node,
            '--input-type=module',
            '-e',
            `const body = await (await fetch(process.env.API_URL)).text(); (await import('node:fs')).writeFileSync('init.out', body + ' ' + process.env.DATABASE_URL)`,
          ],
          after: ['api'],
          once: true,
        },
        api: API,
        redis: REDIS,
      },
    })
    const show = `console.log(JSON.stringify({ api: process.env.API_URL, redis: process.env.REDIS_URL, db: process.env.DATABASE_URL }))`
    const out = await pgrig(['run', '--', node, '-e', show], { cwd: dir })
    expect(out.code, out.stderr).toBe(0)
    const seen = JSON.parse(out.stdout) as { api: string; redis: string; db: string }
    expect(seen.api).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
    expect(seen.redis).toMatch(/^redis:\/\/127\.0\.0\.1:\d+\/0$/)
    expect(out.stderr).toMatch(
      /^pgrig: main \(PostgreSQL [\d.]+, port \d+\), api \(port \d+\), init \(once, done\), redis \(port \d+\) up in \d+ ms$/m,
    )
    const written = fs.readFileSync(path.join(dir, 'init.out'), 'utf8').trim()
    expect(written).toBe(`from the api ${seen.db}`)
    for (const url of [seen.api, seen.redis]) expect(await refuses(Number(new URL(url).port))).toBe(true)
    expect(listRuns()).toEqual([])
  })

  test('--no-services starts none', async () => {
    const dir = project({ services: { api: API } })
    const out = await pgrig(
      ['run', '--no-services', '--', node, '-e', 'console.log(process.env.API_URL ?? "unset")'],
      {
        cwd: dir,
      },
    )
    expect(out.code, out.stderr).toBe(0)
    expect(out.stdout.trim()).toBe('unset')
  })
})

describe('pgrig up / status / env / down with services', () => {
  test('status and env show them, secrets hidden; down NAME stops one, down of the last server the rest', async () => {
    const dir = project({
      services: {
        api: API,
        redis: REDIS,
        init: { command: ['sh', '-c', 'echo done'], after: ['api'], once: true },
      },
    })
    const up = await pgrig(['up', '--json', '--name', 'svc-main'], { cwd: dir })
    expect(up.code, up.stderr).toBe(0)
    const started = JSON.parse(up.stdout) as {
      runId: string
      services: { name: string; pid: number; port: number; env: Record<string, string>; dir: string }[]
    }
    const [api, redis] = started.services
    expect(started.services.map((s) => s.name)).toEqual(['api', 'redis', 'init'])
    expect(api!.env.API_URL).toBe(`http://127.0.0.1:${api!.port}/`)
    expect(fs.existsSync(api!.dir)).toBe(true)

    const status = await pgrig(['status'])
    expect(status.stdout).toMatch(/^svc-main\s+running/m)
    expect(status.stdout).toMatch(
      new RegExp(
        `^api\\s+running\\s+127\\.0\\.0\\.1:${api!.port}\\s+${api!.pid}\\s+${started.runId} \\(up\\)\\s+an HTTP 2xx answer`,
        'm',
      ),
    )
    expect(status.stdout).toMatch(new RegExp(`^redis\\s+running\\s+127\\.0\\.0\\.1:${redis!.port}\\s`, 'm'))
    expect(status.stdout).toMatch(/^init\s+done \(once\)\s+127\.0\.0\.1:\d+\s+-\s/m)
    expect(status.stdout).not.toContain('supersecret')
    const json = JSON.parse((await pgrig(['status', '--json'])).stdout) as {
      services: { name: string; state: string; env: Record<string, string> }[]
    }
    expect(json.services.find((s) => s.name === 'api')).toMatchObject({
      state: 'running',
      env: { API_URL: api!.env.API_URL, API_SECRET_KEY: '***' },
    })
    const shown = JSON.parse((await pgrig(['status', '--json', '--show-secrets'])).stdout) as typeof json
    expect(shown.services.find((s) => s.name === 'api')!.env.API_SECRET_KEY).toBe('supersecret')

    const env = JSON.parse((await pgrig(['env', '--format', 'json'])).stdout) as Record<string, string>
    expect(env).toMatchObject({ API_URL: api!.env.API_URL, REDIS_URL: redis!.env.REDIS_URL })
    expect(env.DATABASE_URL).toMatch(/^postgres/)

    const down = await pgrig(['down', 'api'])
    expect(down.stderr).toBe('pgrig: stopped service api\n')
    expect(isGroupAlive(api!.pid)).toBe(false)
    expect(fs.existsSync(api!.dir)).toBe(false)
    expect(isAlive(redis!.pid)).toBe(true)

    await pgrig(['down', 'svc-main'])
    expect(await waitUntil(() => !isAlive(redis!.pid), 5_000)).toBe(true)
    expect(listRuns().some((r) => r.runId === started.runId)).toBe(false)
  })
})

test('pgrig run killed with SIGKILL: the reaper stops its services, no process left', async () => {
  const dir = project({
    services: {
      shell: { command: ['sh', '-c', 'sleep 300 & sleep 301 & echo ready; wait'], ready: { log: 'ready' } },
    },
  })
  const owner = spawn(process.execPath, [CLI, 'run', '--', 'sleep', '60'], { cwd: dir, stdio: 'ignore' })
  onTestFinished(() => void owner.kill('SIGKILL'))
  let pid: number | undefined
  let runId: string | undefined
  await waitUntil(
    () => {
      const run = listRuns().find((r) => r.ownerPid === owner.pid)
      runId = run?.runId
      pid = run ? listCompanions(run.runId).find((c) => c.name === 'shell')?.pid : undefined
      // the command runs once the service was ready and the start line printed
      return (
        pid !== undefined &&
        fs.readFileSync(listCompanions(run!.runId)[0]!.service!.logFile, 'utf8').includes('ready')
      )
    },
    45_000,
    20,
  )
  expect(pid).toBeDefined()
  expect(isGroupAlive(pid!)).toBe(true)
  owner.kill('SIGKILL')
  expect(await waitUntil(() => !isGroupAlive(pid!), 15_000, 50)).toBe(true)
  expect(await waitUntil(() => !listRuns().some((r) => r.runId === runId), 5_000, 50)).toBe(true)
})

test('pgrig up whose once job fails: one line, and the servers it started are stopped', async () => {
  const dir = project({
    services: { init: { command: ['sh', '-c', 'echo "no bucket"; exit 5'], once: true } },
  })
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-svc-up-'))
  fs.chmodSync(root, 0o755)
  onTestFinished(() => fs.rmSync(root, { recursive: true, force: true }))
  const out = await pgrig(['up', '--name', 'svc-up-fails'], { cwd: dir, env: { PGRIG_RUN_ROOT: root } })
  expect(out.code).not.toBe(0)
  expect(out.stderr).toMatch(
    /^pgrig: service init \(once\) failed with exit code 5; log \S+ ends: "no bucket"\n$/,
  )
  expect(await waitUntil(() => fs.readdirSync(root).length === 0, 5_000)).toBe(true)
})

test("pgrig doctor checks the services' programs", async () => {
  const dir = project({
    services: { redis: REDIS, minio: { command: ['minio-not-here', 'server', '{dir}'] } },
  })
  const out = await pgrig(['doctor'], { cwd: dir })
  expect(out.code).toBe(1)
  expect(out.stdout).toMatch(/^ok {4}service redis: \/\S*redis-server$/m)
  expect(out.stdout).toMatch(
    /^FAIL {2}service minio: "minio-not-here" was not found on PATH \(services\.minio\.command\[0\]\); install it/m,
  )
})

describe('service mistakes end in one line and a non-zero exit, with nothing left running', () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    [
      'a program that is not installed',
      { minio: { command: ['minio-not-here', 'server', '{dir}'] } },
      /^pgrig: service minio: "minio-not-here" was not found on PATH \(services\.minio\.command\[0\]\); install it/,
    ],
    [
      'a service that exits before it is ready',
      { broken: { command: ['sh', '-c', 'echo "no such flag" >&2; exit 4'], ready: { tcp: '{port}' } } },
      /^pgrig: service broken exited before it was ready \(exit code 4\); log \S+ ends: "no such flag"$/,
    ],
    [
      'a once job that fails',
      { init: { command: ['sh', '-c', 'echo "bucket taken"; exit 1'], once: true } },
      /^pgrig: service init \(once\) failed with exit code 1; log \S+ ends: "bucket taken"$/,
    ],
    [
      'a readiness timeout',
      { slow: { command: ['sleep', '30'], ready: { log: 'never' }, timeout: 300 } },
      /^pgrig: service slow was not ready: it waited for a log line matching "never" in \S+ within 300 ms; raise services\.slow\.timeout/,
    ],
    [
      'a cycle',
      { a: { command: ['true'], after: ['b'] }, b: { command: ['true'], after: ['a'] } },
      /^pgrig: services: circular after: a -> b -> a/,
    ],
    [
      'an unknown after',
      { a: { command: ['true'], after: ['minio'] } },
      /^pgrig: services\.a\.after names "minio"/,
    ],
  ]
  test.each(cases)('%s', async (_label, services, message) => {
    const dir = project({ services })
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-svc-mistake-'))
    fs.chmodSync(root, 0o755)
    onTestFinished(() => fs.rmSync(root, { recursive: true, force: true }))
    const out = await pgrig(['run', '--quiet', '--', 'true'], { cwd: dir, env: { PGRIG_RUN_ROOT: root } })
    expect(out.code).not.toBe(0)
    const lines = out.stderr.trim().split('\n')
    expect(lines, out.stderr).toHaveLength(1)
    expect(lines[0]).toMatch(message)
    expect(fs.readdirSync(root)).toEqual([])
  })
})
