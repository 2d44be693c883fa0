import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { proxiedUrl } from '../src/chaos/index.js'
import { startServer, type StartedServer } from '../src/index.js'
import { chaosServe } from './support/chaos.js'
import { privateRunRoot } from './support/run-root.js'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-chaos-config-'))
let cluster: StartedServer

privateRunRoot('chaos-serve')
beforeAll(async () => {
  cluster = await startServer({ name: 'chaos-config' })
})
afterAll(async () => {
  await cluster?.stop()
  fs.rmSync(dir, { recursive: true, force: true })
})

function writeConfig(name: string, content: string): string {
  const file = path.join(dir, name)
  fs.writeFileSync(file, content)
  return file
}

describe('pgrig chaos serve --config', () => {
  test('creates the proxies of a Toxiproxy -config file and prints where each listens', async () => {
    const file = writeConfig(
      'proxies.json',
      JSON.stringify([{ name: 'pg', listen: '127.0.0.1:0', upstream: `127.0.0.1:${cluster.port}` }]),
    )
    const { stdout } = await chaosServe(['--config', file])
    const listen = /proxy pg on (\S+):(\d+) -> /.exec(stdout)
    expect(listen).not.toBeNull()
    const client = new pg.Client({
      connectionString: proxiedUrl(cluster.url, { host: listen![1]!, port: Number(listen![2]) }),
    })
    await client.connect()
    try {
      expect((await client.query('SELECT 41 + 1 AS answer')).rows).toEqual([{ answer: 42 }])
    } finally {
      await client.end()
    }
    const api = /http:\/\/\S+/.exec(stdout)![0]
    const proxies = (await (await fetch(`${api}/proxies`)).json()) as Record<string, { upstream: string }>
    expect(proxies.pg?.upstream).toBe(`127.0.0.1:${cluster.port}`)
  })

  test.each([
    ['a missing file', path.join(dir, 'absent.json'), /cannot be read \(ENOENT\)/],
    ['a file that is not JSON', writeConfig('broken.json', '[{'), /is not JSON/],
    ['JSON that is not an array', writeConfig('object.json', '{"name":"pg"}'), /is not an array of proxies/],
    [
      'a proxy without upstream',
      writeConfig('no-upstream.json', '[{"name":"pg","listen":"127.0.0.1:0"}]'),
      /missing required field: upstream/,
    ],
  ])('%s is a one-line error and nothing keeps listening', async (_what, file, message) => {
    const { code, stderr } = await chaosServe(['--config', file])
    expect(code).toBe(1)
    expect(stderr.trim().split('\n')).toHaveLength(1)
    expect(stderr).toMatch(message)
  })
})

describe("docs/chaos.md's curl commands", () => {
  test('create a proxy and set pg_* toxics over the API, listed with their hits', async () => {
    const { stdout } = await chaosServe()
    const api = /http:\/\/\S+/.exec(stdout)![0]
    const run = spawnSync('sh', ['test/fixtures/chaos-curl.sh'], {
      env: { ...process.env, API: api },
      encoding: 'utf8',
    })
    expect(run.status, run.stderr).toBe(0)
    const listed = JSON.parse(run.stdout.slice(run.stdout.indexOf('[{'))) as {
      type: string
      stream: string
      attributes: Record<string, unknown>
    }[]
    expect(listed.map((t) => [t.type, t.stream, t.attributes.hits])).toEqual([
      ['pg_error', 'upstream', 0],
      ['pg_refuse_connection', 'upstream', 0],
    ])
    expect(listed[0]!.attributes).toMatchObject({ regex: '^update accounts', code: '40001', times: 1 })
  })
})
