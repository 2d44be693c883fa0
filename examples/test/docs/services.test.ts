/**
 * docs/services.md's code, run: a service and a Redis from code, and the minio config
 * (examples/configs/minio) under `pgrig run`: for real where minio and mc are installed, else its
 * one-line refusal.
 */
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { createClient } from 'redis'
import { parse } from 'yaml'
import { expect, test } from 'vitest'
import minioConfig from '../../configs/minio/pgrig.config.js'
// #region start-service
import { startService } from 'pgrig'
// #endregion start-service
// #region start-redis
import { startRedis } from 'pgrig'
// #endregion start-redis

const examples = fileURLToPath(new URL('../..', import.meta.url))
const cli = path.join(examples, '../dist/cli/main.js')

test('a service from code', async () => {
  // #region start-service
  await using api = await startService({
    command: ['node', 'server.mjs', '--port', '{port}'],
    ready: { http: 'http://127.0.0.1:{port}/health' },
    env: { API_URL: 'http://127.0.0.1:{port}' },
    cwd: import.meta.dirname, // server.mjs is next to this file
  })
  const { env, port, dir } = api // env.API_URL: http://127.0.0.1:<free port>; dir: its own folder
  // stop() (idempotent) at the end of the scope; the run's reaper stops it if this process dies first
  // #endregion start-service
  expect(env.API_URL).toBe(`http://127.0.0.1:${port}`)
  expect(dir).toBeTruthy()
  expect(await (await fetch(`${env.API_URL}/`)).text()).toBe(env.API_URL)
})

test('a Redis from code', async () => {
  // #region start-redis
  await using redis = await startRedis({ databases: 16 }) // the machine's redis-server or valkey-server
  const url = redis.url // redis://127.0.0.1:<free port>/0
  const worker3 = redis.urlFor(3) // one logical database per worker: redis://127.0.0.1:<port>/3
  // #endregion start-redis
  const client = createClient({ url: worker3 })
  await client.connect()
  await client.set('k', 'v')
  // #region start-redis
  await redis.flush(3) // FLUSHDB of that index only, between two tests
  // #endregion start-redis
  expect(await client.get('k')).toBeNull()
  client.destroy()
  expect(url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+\/0$/)
})

test('the minio config under pgrig run', async () => {
  const found = await Promise.all(
    ['minio', 'mc'].map((program) =>
      promisify(execFile)('sh', ['-c', `command -v ${program}`]).then(
        () => true,
        () => false,
      ),
    ),
  )
  const run = promisify(execFile)(
    process.execPath,
    [cli, 'run', '--quiet', '--', 'sh', '-c', 'echo "$S3_ENDPOINT_URL"'],
    { cwd: path.join(examples, 'configs/minio') },
  )
  const [minio, mc] = found
  if (minio && mc) {
    const { stdout } = await run
    expect(stdout.trim()).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
  } else {
    const refusal = minio
      ? /service minio-init \(once\) failed/
      : /service minio: "minio" was not found on PATH/
    await expect(run).rejects.toMatchObject({ stderr: expect.stringMatching(refusal) })
  }
}, 120_000)

interface ComposeService {
  build?: string
  depends_on?: Record<string, { condition: string }>
  environment?: Record<string, string>
}

test('the minio config describes what the compose file did: the same companions, order and variables', () => {
  const compose = parse(fs.readFileSync(path.join(examples, 'configs/minio/compose.yaml'), 'utf8')) as {
    services: Record<string, ComposeService>
  }
  const services = minioConfig.services!
  const companions = Object.entries(compose.services).filter(([, service]) => !service.build)
  expect(companions.map(([name]) => name)).toEqual(Object.keys(services))
  for (const [name, service] of companions) {
    const dependsOn = Object.entries(service.depends_on ?? {})
    expect(services[name]!.after ?? []).toEqual(dependsOn.map(([dependency]) => dependency))
    for (const [dependency, { condition }] of dependsOn) {
      // a job that must finish is a `once` service; one that must be healthy has a readiness check
      if (condition === 'service_completed_successfully') expect(services[dependency]!.once).toBe(true)
      if (condition === 'service_healthy') expect(services[dependency]!.ready).toBeDefined()
    }
  }
  // the tests get the same variables
  const tests = Object.values(compose.services).find((service) => service.build)!
  expect(Object.keys(services.minio!.env!)).toEqual(Object.keys(tests.environment!))
})
