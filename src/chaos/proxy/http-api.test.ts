import net from 'node:net'
import pg from 'pg'
import { Toxiproxy, ToxiproxyError } from 'toxiproxy-node-client'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../../servers/start-server.js'
import { proxiedUrl } from './address.js'
import { serveToxiproxyApi, TOXIPROXY_API_VERSION, type ToxiproxyApi } from './http-api.js'
import { chaosServe } from '../../../test/support/chaos.js'

let cluster: StartedServer
let api: ToxiproxyApi

beforeAll(async () => {
  cluster = await startServer({ name: 'chaos-api' })
  api = await serveToxiproxyApi({ port: 0 })
})
afterAll(async () => {
  await api?.close()
  await cluster?.stop()
})

const upstream = () => `127.0.0.1:${cluster.port}`

async function roundTrip(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url })
  client.on('error', () => undefined)
  await client.connect()
  try {
    const start = performance.now()
    await client.query('select 1')
    return performance.now() - start
  } finally {
    await client.end()
  }
}

function portOf(listen: string): number {
  return Number(listen.split(':').pop())
}

async function call(method: string, route: string, body?: unknown, base = api.url) {
  const response = await fetch(`${base}${route}`, {
    method,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  })
  const text = await response.text()
  return {
    status: response.status,
    type: response.headers.get('content-type'),
    text,
    json: text ? tryJson(text) : undefined,
  }
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

describe('toxiproxy-node-client against pgrig', () => {
  test('creates a proxy, adds/updates/removes a latency toxic, and queries go through it', async () => {
    const toxiproxy = new Toxiproxy(api.url)
    const proxy = await toxiproxy.createProxy({
      name: 'pg_client',
      listen: '127.0.0.1:0',
      upstream: upstream(),
    })
    expect(proxy.enabled).toBe(true)
    const url = proxiedUrl(cluster.url, { host: '127.0.0.1', port: portOf(proxy.listen) })
    expect(await roundTrip(url)).toBeLessThan(200)

    const toxic = await proxy.addToxic({
      name: 'slow',
      type: 'latency',
      stream: 'downstream',
      toxicity: 1,
      attributes: { latency: 200, jitter: 0 },
    } as never)
    expect(toxic.attributes).toEqual({ latency: 200, jitter: 0 })
    expect(await roundTrip(url)).toBeGreaterThanOrEqual(190)
    const updated = await toxic.update({ attributes: { latency: 50 }, toxicity: 1 } as never)
    expect(updated.attributes).toEqual({ latency: 50, jitter: 0 })
    expect((await proxy.getToxic('slow')).attributes).toMatchObject({ latency: 50 })
    await toxic.remove()
    expect(await roundTrip(url)).toBeLessThan(200)

    const all = await toxiproxy.getAll()
    expect(Object.keys(all)).toContain('pg_client')
    expect(await toxiproxy.getVersion()).toContain(TOXIPROXY_API_VERSION)

    const down = await proxy.update({ listen: proxy.listen, upstream: upstream(), enabled: false })
    expect(down.enabled).toBe(false)
    await expect(roundTrip(url)).rejects.toThrow(/ECONNREFUSED/)
    await toxiproxy.reset()
    expect((await toxiproxy.get('pg_client')).enabled).toBe(true)
    expect(await roundTrip(url)).toBeLessThan(500)

    const error = await toxiproxy.get('missing').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ToxiproxyError)
    await proxy.remove()
  })

  test('populate creates several proxies at once', async () => {
    const toxiproxy = new Toxiproxy(api.url)
    const created = await toxiproxy.populate([
      { name: 'pop_a', listen: '127.0.0.1:0', upstream: upstream() },
      { name: 'pop_b', listen: '127.0.0.1:0', upstream: upstream() },
    ])
    expect(Object.keys(created).sort()).toEqual(['pop_a', 'pop_b'])
    const url = proxiedUrl(cluster.url, { host: '127.0.0.1', port: portOf(created.pop_b!.listen) })
    expect(await roundTrip(url)).toBeLessThan(500)
    await Promise.all(Object.values(created).map((p) => p.remove()))
  })
})

describe('raw HTTP: routes, shapes and status codes as Toxiproxy 2.x', () => {
  test('proxy routes', async () => {
    const created = await call('POST', '/proxies', {
      name: 'raw',
      listen: '127.0.0.1:0',
      upstream: upstream(),
    })
    expect(created.status).toBe(201)
    expect(created.json).toMatchObject({ name: 'raw', upstream: upstream(), enabled: true, toxics: [] })
    expect((created.json as { listen: string }).listen).toMatch(/^127\.0\.0\.1:\d+$/)
    expect((await call('POST', '/proxies', { name: 'raw', upstream: upstream() })).json).toEqual({
      error: 'proxy already exists',
      status: 409,
    })
    expect((await call('POST', '/proxies', { upstream: upstream() })).json).toEqual({
      error: 'missing required field: name',
      status: 400,
    })
    expect((await call('POST', '/proxies', { name: 'x' })).json).toEqual({
      error: 'missing required field: upstream',
      status: 400,
    })
    const bad = await call('POST', '/proxies', '{not json')
    expect(bad.status).toBe(400)
    expect((bad.json as { error: string }).error).toMatch(/^bad request body/)
    expect((await call('GET', '/proxies')).json).toHaveProperty('raw')
    expect((await call('GET', '/proxies/raw')).status).toBe(200)
    expect(await call('GET', '/proxies/nope')).toMatchObject({
      status: 404,
      json: { error: 'proxy not found', status: 404 },
    })
    const disabled = await call('POST', '/proxies/raw', { enabled: false })
    expect(disabled).toMatchObject({ status: 200, json: { name: 'raw', enabled: false } })
    expect((await call('POST', '/reset')).status).toBe(204)
    expect((await call('GET', '/proxies/raw')).json).toMatchObject({ enabled: true })
    expect((await call('DELETE', '/proxies/raw')).status).toBe(204)
    expect((await call('DELETE', '/proxies/raw')).status).toBe(404)
    const version = await call('GET', '/version')
    expect(version).toMatchObject({ status: 200, json: { version: TOXIPROXY_API_VERSION } })
    expect((await call('GET', '/nowhere')).status).toBe(404)
    expect((await call('DELETE', '/proxies')).status).toBe(405)
  })

  test('toxic routes', async () => {
    await call('POST', '/proxies', { name: 'tox', upstream: upstream() })
    const added = await call('POST', '/proxies/tox/toxics', { type: 'latency', attributes: { latency: 10 } })
    expect(added).toMatchObject({
      status: 200,
      json: {
        name: 'latency_downstream',
        type: 'latency',
        stream: 'downstream',
        toxicity: 1,
        attributes: { latency: 10, jitter: 0 },
      },
    })
    expect((await call('POST', '/proxies/tox/toxics', { type: 'latency' })).json).toEqual({
      error: 'toxic already exists',
      status: 409,
    })
    expect((await call('POST', '/proxies/tox/toxics', { type: 'bogus' })).json).toEqual({
      error: 'invalid toxic type',
      status: 400,
    })
    expect(
      (await call('POST', '/proxies/tox/toxics', { type: 'latency', name: 'l2', stream: 'sideways' })).json,
    ).toEqual({
      error: 'stream was invalid, can be either upstream or downstream',
      status: 400,
    })
    for (const type of ['bandwidth', 'slow_close', 'timeout', 'reset_peer', 'slicer', 'limit_data']) {
      const made = await call('POST', '/proxies/tox/toxics', { type, stream: 'upstream', toxicity: 0 })
      expect(made.status, made.text).toBe(200)
    }
    expect(((await call('GET', '/proxies/tox/toxics')).json as unknown[]).length).toBe(7)
    expect((await call('GET', '/proxies/tox/toxics/latency_downstream')).json).toMatchObject({
      name: 'latency_downstream',
    })
    const updated = await call('POST', '/proxies/tox/toxics/latency_downstream', {
      attributes: { jitter: 5 },
    })
    expect(updated.json).toMatchObject({ attributes: { latency: 10, jitter: 5 } })
    expect((await call('GET', '/proxies/tox/toxics/none')).json).toEqual({
      error: 'toxic not found',
      status: 404,
    })
    expect((await call('DELETE', '/proxies/tox/toxics/latency_downstream')).status).toBe(204)
    expect((await call('DELETE', '/proxies/tox/toxics/latency_downstream')).status).toBe(404)
    expect((await call('GET', '/proxies/tox')).json).toMatchObject({ toxics: expect.any(Array) })
    await call('POST', '/reset')
    expect((await call('GET', '/proxies/tox/toxics')).json).toEqual([])
    await call('DELETE', '/proxies/tox')
  })
})

describe('a proxy beyond loopback (issue 21: a web page opened PostgreSQL to the network)', () => {
  test('is refused (403, one line) on create, populate and update; nothing listens', async () => {
    for (const listen of ['0.0.0.0:0', '[::]:0', '192.0.2.1:5', 'example.com:5']) {
      const created = await call('POST', '/proxies', { name: 'remote', upstream: upstream(), listen })
      expect(created.status, created.text).toBe(403)
      expect((created.json as { error: string }).error).toMatch(
        /beyond loopback: .* start pgrig chaos serve with --allow-remote-listen/,
      )
    }
    const populated = await call('POST', '/populate', [
      { name: 'remote', upstream: upstream(), listen: '0.0.0.0:0' },
    ])
    expect(populated.status).toBe(403)
    expect((await call('GET', '/proxies')).json).not.toHaveProperty('remote')
    await call('POST', '/proxies', { name: 'moved', upstream: upstream() })
    const moved = await call('POST', '/proxies/moved', { listen: '0.0.0.0:0' })
    expect(moved.status).toBe(403)
    expect((await call('GET', '/proxies/moved')).json).toMatchObject({
      listen: expect.stringMatching(/^127\.0\.0\.1:/),
    })
    await call('DELETE', '/proxies/moved')
    for (const listen of ['127.0.0.1:0', 'localhost:0', '[::1]:0', '127.0.0.2:0']) {
      const local = await call('POST', '/proxies', { name: 'local', upstream: upstream(), listen })
      expect(local.status, `${listen}: ${local.text}`).toBe(201)
      await call('DELETE', '/proxies/local')
    }
  })

  test('is taken when the API was started with allowRemoteListen (--allow-remote-listen)', async () => {
    await using open = await serveToxiproxyApi({ port: 0, allowRemoteListen: true })
    const created = await call(
      'POST',
      '/proxies',
      { name: 'remote', upstream: upstream(), listen: '0.0.0.0:0' },
      open.url,
    )
    expect(created.status, created.text).toBe(201)
    expect((created.json as { listen: string }).listen).toMatch(/^0\.0\.0\.0:\d+$/)
  })
})

describe('pgrig chaos serve', () => {
  test('--port 0 prints the API address; a Toxiproxy client drives it; SIGTERM stops it', async () => {
    const { stdout: line, child } = await chaosServe()
    const url = /http:\/\/\S+/.exec(line)?.[0]
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const toxiproxy = new Toxiproxy(url!)
    const proxy = await toxiproxy.createProxy({ name: 'cli', listen: '127.0.0.1:0', upstream: upstream() })
    const proxied = proxiedUrl(cluster.url, { host: '127.0.0.1', port: portOf(proxy.listen) })
    expect(await roundTrip(proxied)).toBeLessThan(500)
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
  })

  test('--allow-remote-listen lets proxies listen beyond loopback; without it they are refused', async () => {
    for (const flags of [[], ['--allow-remote-listen']]) {
      const { stdout, child } = await chaosServe(flags)
      const url = /http:\/\/\S+/.exec(stdout)![0]
      const created = await call(
        'POST',
        '/proxies',
        { name: 'r', upstream: upstream(), listen: '0.0.0.0:0' },
        url,
      )
      expect(created.status, created.text).toBe(flags.length > 0 ? 201 : 403)
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
  })

  test('a taken port is a one-line error', async () => {
    const blocker = net.createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const port = (blocker.address() as net.AddressInfo).port
    try {
      const { code, stderr } = await chaosServe(['--port', String(port)])
      expect(code).toBe(1)
      expect(stderr.trim().split('\n')).toHaveLength(1)
      expect(stderr).toMatch(/port is taken/)
    } finally {
      blocker.close()
    }
  })
})
