import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createClient } from 'redis'
import { afterEach, describe, expect, test } from 'vitest'
import { isCompanionAlive, listCompanions } from '../servers/companions.js'
import { isAlive, isGroupAlive, waitUntil } from '../servers/process-alive.js'
import { ownedRun } from '../servers/run.js'
import { resolveServices } from '../config/services.js'
import type { ServiceOptions } from '../config/schema.js'
import { isPgrigError } from '../errors.js'
import { startService, type StartedService } from './service.js'
import { startServices, type StartedServices } from './services.js'

const HTTP_SERVER = path.resolve('test/fixtures/services/http-server.mjs')
const node = process.execPath

const stoppers: (StartedService | StartedServices)[] = []
afterEach(async () => {
  await Promise.all(stoppers.splice(0).map((s) => s.stop()))
})

async function start(services: Record<string, ServiceOptions>): Promise<StartedServices> {
  const started = await startServices(resolveServices(services))
  stoppers.push(started)
  return started
}

/** The error a start ends in, for its one line. */
async function failureOf(services: Record<string, ServiceOptions>): Promise<Error> {
  const error = await start(services).then(
    () => undefined,
    (e: unknown) => e as Error,
  )
  expect(error, 'the start should have failed').toBeDefined()
  expect(isPgrigError(error)).toBe(true)
  return error!
}

async function runCompanions(): Promise<string[]> {
  return listCompanions((await ownedRun()).runId).map((record) => record.name)
}

describe('startServices: real processes, each readiness kind', () => {
  test("Debian's redis-server as a plain service, ready on TCP, its env filled in", async () => {
    const services = await start({
      redis: {
        command: ['redis-server', '--port', '{port}', '--bind', '127.0.0.1', '--save', '', '--dir', '{dir}'],
        ready: { tcp: '{port}' },
        env: { REDIS_URL: 'redis://127.0.0.1:{port}/0', REDIS_DIR: '{dir}' },
      },
    })
    const redis = services.get('redis')!
    expect(services.env).toEqual({
      REDIS_URL: `redis://127.0.0.1:${redis.port}/0`,
      REDIS_DIR: redis.dir,
    })
    expect(redis.dir.startsWith((await ownedRun()).dir)).toBe(true)
    const client = createClient({ url: services.env.REDIS_URL, socket: { reconnectStrategy: false } })
    await client.connect()
    try {
      expect(await client.ping()).toBe('PONG')
      expect(await client.configGet('dir')).toEqual({ dir: redis.dir })
    } finally {
      client.destroy()
    }
    await services.stop()
    expect(await waitUntil(() => !isAlive(redis.pid), 2_000)).toBe(true)
    expect(fs.existsSync(redis.dir)).toBe(false)
    expect(await runCompanions()).not.toContain('redis')
  })

  test('an HTTP check waits through 503s for the 200; a log check waits for its line', async () => {
    const services = await start({
      api: {
        command: [node, HTTP_SERVER, '{port}', '400'],
        ready: { http: 'http://127.0.0.1:{port}/health' },
        env: { API_URL: 'http://127.0.0.1:{port}' },
      },
      logged: { command: [node, HTTP_SERVER, '{port}'], ready: { log: /listening on \d+/ } },
    })
    const health = await fetch(`${services.env.API_URL}/health`)
    expect(health.status).toBe(200)
    const logged = services.get('logged')!
    expect(fs.readFileSync(logged.logFile, 'utf8')).toContain(`listening on ${logged.port}`)
    expect((await fetch(`http://127.0.0.1:${logged.port}/`)).status).toBe(200)
    expect(services.get('api')!.info.ready).toBe(`an HTTP 2xx answer from ${services.env.API_URL}/health`)
  })

  test('after: a once job runs when the service it comes after is ready, sees its env, and writes its file', async () => {
    const out = path.join(os.tmpdir(), `pgrig-once-${process.pid}-${Date.now()}.txt`)
    try {
      const services = await start({
        // listed first, started last
        init: {
          command: [
            node,
            '-e',
            `const r = await fetch(process.env.API_URL); (await import('node:fs')).writeFileSync(${JSON.stringify(out)}, await r.text())`,
            '--input-type=module',
          ],
          after: ['api'],
          once: true,
        },
        api: {
          command: [node, HTTP_SERVER, '{port}', '300'],
          ready: { http: 'http://127.0.0.1:{port}/health' },
          env: { API_URL: 'http://127.0.0.1:{port}/', GREETING: 'from the api' },
        },
      })
      expect(services.list.map((s) => s.name)).toEqual(['api', 'init'])
      expect(fs.readFileSync(out, 'utf8')).toBe('from the api')
      const init = services.get('init')!
      expect(init.once).toBe(true)
      expect(isCompanionAlive(listCompanions((await ownedRun()).runId).find((r) => r.name === 'init')!)).toBe(
        false,
      )
    } finally {
      fs.rmSync(out, { force: true })
    }
  })

  test('stop() takes down the whole process group a shell command started', async () => {
    const service = await startService({
      name: 'shell',
      command: ['sh', '-c', 'sleep 300 & sleep 301 & echo started; wait'],
      ready: { log: 'started' },
    })
    stoppers.push(service)
    expect(isGroupAlive(service.pid)).toBe(true)
    await service.stop()
    expect(isGroupAlive(service.pid)).toBe(false)
  })
})

describe('each failure is one line, and nothing is left running', () => {
  test('a program that is not on the machine names itself and its config key', async () => {
    const error = await failureOf({ minio: { command: ['minio-not-installed-here', 'server', '{dir}'] } })
    expect(error.message).toBe(
      'service minio: "minio-not-installed-here" was not found on PATH (services.minio.command[0]); install it, or put its full path in services.minio.command[0]',
    )
  })

  test('a service that exits before it is ready: its exit code and last log lines', async () => {
    const error = await failureOf({
      broken: { command: ['sh', '-c', 'echo "bad flag --nope" >&2; exit 3'], ready: { tcp: '{port}' } },
    })
    expect(error.message).toMatch(
      /^service broken exited before it was ready \(exit code 3\); log \S+broken\.log ends: "bad flag --nope"$/,
    )
    expect(error.message).not.toContain('\n')
  })

  test('a readiness timeout names what it waited for and the log tail', async () => {
    const error = await failureOf({
      slow: {
        command: [node, HTTP_SERVER, '{port}', '60000'],
        ready: { http: 'http://127.0.0.1:{port}/health' },
        timeout: 600,
      },
    })
    expect(error.message).toMatch(
      /^service slow was not ready: it waited for an HTTP 2xx answer from http:\/\/127\.0\.0\.1:\d+\/health within 600 ms \(last try: status 503\); raise services\.slow\.timeout if the machine is busy; log \S+ ends: "listening on \d+"$/,
    )
  })

  test('a once job with a non-zero exit stops the start with its output; the service before it is stopped', async () => {
    const error = await failureOf({
      api: { command: [node, HTTP_SERVER, '{port}'], ready: { log: 'listening' } },
      init: {
        command: ['sh', '-c', 'echo creating bucket; echo "bucket exists" >&2; exit 2'],
        after: ['api'],
        once: true,
      },
    })
    expect(error.message).toMatch(
      /^service init \(once\) failed with exit code 2; log \S+ ends: "creating bucket" \| "bucket exists"$/,
    )
    expect(await runCompanions()).toEqual([])
  })

  test('unknown after names and cycles are refused before anything starts', () => {
    expect(() => resolveServices({ a: { command: ['true'], after: ['b'] } })).toThrow(
      'services.a.after names "b", which is not a service here (the services are: a); fix the name or add that service',
    )
    expect(() =>
      resolveServices({
        a: { command: ['true'], after: ['c'] },
        b: { command: ['true'], after: ['a'] },
        c: { command: ['true'], after: ['b'] },
      }),
    ).toThrow('services: circular after: a -> c -> b -> a; no service of a cycle could ever start')
    expect(() => resolveServices({ a: { command: 'minio server' as unknown as string[] } })).toThrow(
      "services.a.command: expected the program and its arguments as a list, e.g. ['minio', 'server', '{dir}']",
    )
    expect(() => resolveServices({ a: { command: ['x'], ready: { grpc: 1 } as never } })).toThrow(
      /services\.a\.ready: expected \{ http: .*\}, \{ tcp: '\{port\}' \} or \{ log: \/pattern\/ \}/,
    )
  })
})

test('from code, a failure names the startService option to change', async () => {
  const error = await startService({ command: ['sleep', '30'], ready: { log: 'never' }, timeout: 200 }).then(
    () => undefined,
    (e: unknown) => e as Error,
  )
  expect(error?.message).toMatch(
    /^service sleep was not ready: it waited for a log line matching "never" in \S+ within 200 ms; raise startService\(\{ timeout \}\) if the machine is busy; log \S+ is empty$/,
  )
  await expect(startService({ command: ['no-such-program-pgrig'] })).rejects.toThrow(
    'service no-such-program-pgrig: "no-such-program-pgrig" was not found on PATH (startService({ command })); install it, or put its full path in startService({ command })',
  )
})
