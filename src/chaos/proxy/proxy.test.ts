import { once } from 'node:events'
import http from 'node:http'
import net, { type AddressInfo } from 'node:net'
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../../servers/start-server.js'
import { isPgrigError } from '../../errors.js'
import { createProxy, type ChaosProxy } from './proxy.js'

let cluster: StartedServer
const proxies: ChaosProxy[] = []
const clients: pg.Client[] = []

beforeAll(async () => {
  cluster = await startServer({ name: 'chaos-proxy' })
})
afterAll(async () => {
  await cluster?.stop()
})
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.end().catch(() => undefined)))
  await Promise.all(proxies.splice(0).map((p) => p.close()))
})

async function proxy(): Promise<ChaosProxy> {
  const created = await createProxy({ upstream: cluster })
  proxies.push(created)
  return created
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url })
  client.on('error', () => undefined)
  clients.push(client)
  await client.connect()
  return client
}

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const start = performance.now()
  const value = await fn()
  return { ms: performance.now() - start, value }
}

describe('proxy without toxics', () => {
  test('passes queries through on a free port and reports the cluster url with its host:port', async () => {
    const p = await proxy()
    expect(p.port).toBeGreaterThan(0)
    expect(p.url).toContain(`@127.0.0.1:${p.port}/`)
    expect(p.upstream).toBe(`127.0.0.1:${cluster.port}`)
    const client = await connect(p.url)
    const { rows } = await client.query('select current_user as who, 41 + 1 as answer')
    expect(rows).toEqual([{ who: 'app', answer: 42 }])
    expect(p.connections).toBe(1)
  })
})

describe('network toxics', () => {
  test('latency (added and removed while the connection stays open) delays each round trip', async () => {
    const p = await proxy()
    const client = await connect(p.url)
    const before = await timed(() => client.query('select 1'))
    p.addToxic({ type: 'latency', attributes: { latency: 150 } })
    const slow = await timed(() => client.query('select 1'))
    expect(slow.ms).toBeGreaterThanOrEqual(140)
    expect(slow.ms).toBeLessThan(150 + before.ms + 400)
    p.updateToxic('latency_downstream', { attributes: { latency: 300 } })
    const slower = await timed(() => client.query('select 1'))
    expect(slower.ms).toBeGreaterThanOrEqual(290)
    p.removeToxic('latency_downstream')
    const after = await timed(() => client.query('select 1'))
    expect(after.ms).toBeLessThan(100)
  })

  test('two latency toxics on one stream both act, one after the other, as in Toxiproxy', async () => {
    const p = await proxy()
    const client = await connect(p.url)
    p.addToxic({ name: 'slow_a', type: 'latency', attributes: { latency: 100 } })
    p.addToxic({ name: 'slow_b', type: 'latency', attributes: { latency: 100 } })
    const both = await timed(() => client.query('select 1'))
    expect(both.ms).toBeGreaterThanOrEqual(195)
    expect(both.ms).toBeLessThan(200 + 400)
  })

  test('toxicity 0 never acts; upstream latency delays only the way in', async () => {
    const p = await proxy()
    p.addToxic({ type: 'latency', stream: 'upstream', toxicity: 0, attributes: { latency: 500 } })
    const client = await connect(p.url)
    expect((await timed(() => client.query('select 1'))).ms).toBeLessThan(250)
    p.removeToxic('latency_upstream')
    p.addToxic({ type: 'latency', stream: 'upstream', attributes: { latency: 120 } })
    expect((await timed(() => client.query('select 1'))).ms).toBeGreaterThanOrEqual(110)
  })

  test('bandwidth caps a large result to about rate KB/s', async () => {
    const p = await proxy()
    const client = await connect(p.url)
    p.addToxic({ type: 'bandwidth', attributes: { rate: 400 } })
    const { ms, value } = await timed(() => client.query("select repeat('x', 200000) as big"))
    expect(value.rows[0].big).toHaveLength(200_000)
    // 200 KB at 400 KB/s is about 500 ms
    expect(ms).toBeGreaterThan(350)
    expect(ms).toBeLessThan(3000)
  })

  test('slicer cuts the stream into small pieces and the protocol still works', async () => {
    const p = await proxy()
    p.addToxic({ type: 'slicer', attributes: { average_size: 7, size_variation: 3, delay: 10 } })
    p.addToxic({ type: 'slicer', name: 'up', stream: 'upstream', attributes: { average_size: 3 } })
    const client = await connect(p.url)
    const { rows } = await client.query('select g from generate_series(1, 50) g')
    expect(rows.map((r) => r.g)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1))
  })

  test('timeout swallows the answer and closes the connection after the timeout', async () => {
    const p = await proxy()
    const client = await connect(p.url)
    p.addToxic({ type: 'timeout', attributes: { timeout: 300 } })
    const { ms, value } = await timed(() =>
      client.query('select 1').then(
        () => 'answered',
        (e: Error) => e.message,
      ),
    )
    expect(value).toMatch(/terminated|closed|ECONNRESET/i)
    expect(ms).toBeGreaterThanOrEqual(280)
    expect(ms).toBeLessThan(2000)
  })

  test('reset_peer resets open connections', async () => {
    const p = await proxy()
    const client = await connect(p.url)
    const ended = new Promise<string>((resolve) => client.once('error', (e) => resolve(e.message)))
    p.addToxic({ type: 'reset_peer', attributes: { timeout: 100 } })
    expect(await ended).toMatch(/ECONNRESET|terminated/i)
    await expect(client.query('select 1')).rejects.toThrow()
  })

  test('limit_data closes the connection once the byte budget is spent', async () => {
    const p = await proxy()
    const client = await connect(p.url)
    p.addToxic({ type: 'limit_data', attributes: { bytes: 5000 } })
    await expect(client.query('select 1')).resolves.toBeTruthy()
    await expect(client.query("select repeat('y', 20000)")).rejects.toThrow(/terminated|closed|ECONNRESET/i)
  })

  test('slow_close holds back the close the server sends', async () => {
    const p = await proxy()
    const client = await connect(p.url)
    const [{ pid }] = (await client.query('select pg_backend_pid() as pid')).rows
    p.addToxic({ type: 'slow_close', attributes: { delay: 400 } })
    const closed = new Promise<number>((resolve) => client.once('end', () => resolve(performance.now())))
    const killer = await connect(cluster.superuser.url)
    const start = performance.now()
    await killer.query('select pg_terminate_backend($1)', [pid])
    const ms = (await closed) - start
    expect(ms).toBeGreaterThanOrEqual(380)
    expect(ms).toBeLessThan(2500)
  })
})

describe('down, up and reset', () => {
  test('disable refuses new connections and drops open ones; enable listens on the same port again', async () => {
    const p = await proxy()
    const client = await connect(p.url)
    const dropped = new Promise((resolve) => client.once('end', resolve))
    await p.disable()
    expect(p.enabled).toBe(false)
    await dropped
    const refused = await new Promise<string>((resolve) => {
      net
        .connect(p.port, '127.0.0.1')
        .once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? ''))
        .once('connect', () => resolve('connected'))
    })
    expect(refused).toBe('ECONNREFUSED')
    const port = p.port
    await p.enable()
    expect(p.port).toBe(port)
    const again = await connect(p.url)
    expect((await again.query('select 2 as two')).rows).toEqual([{ two: 2 }])
  })

  test('reset clears every toxic and re-enables', async () => {
    const p = await proxy()
    p.addToxic({ type: 'latency', attributes: { latency: 1000 } })
    p.addToxic({ type: 'timeout', stream: 'upstream' })
    await p.disable()
    await p.reset()
    expect(p.listToxics()).toEqual([])
    expect(p.enabled).toBe(true)
    const client = await connect(p.url)
    expect((await timed(() => client.query('select 1'))).ms).toBeLessThan(300)
  })

  test('bad toxic specs are refused the way Toxiproxy refuses them', async () => {
    const p = await proxy()
    const codeOf = (fn: () => unknown) => {
      try {
        fn()
      } catch (error) {
        return isPgrigError(error) ? `${error.code}: ${error.message}` : String(error)
      }
      return 'no error'
    }
    expect(codeOf(() => p.addToxic({ type: 'nope' }))).toBe('E_CHAOS_INVALID: invalid toxic type')
    p.addToxic({ type: 'latency' })
    expect(codeOf(() => p.addToxic({ type: 'latency' }))).toBe('E_CHAOS_EXISTS: toxic already exists')
    expect(codeOf(() => p.removeToxic('missing'))).toBe('E_CHAOS_NOT_FOUND: toxic not found')
  })
})

describe('upstreams that are not a pgrig cluster', () => {
  test('host:port works; url then says to use proxiedUrl; a bad address is one clear error', async () => {
    const p = await createProxy({ upstream: `127.0.0.1:${cluster.port}` })
    proxies.push(p)
    expect(() => p.url).toThrow(/proxiedUrl/)
    await expect(createProxy({ upstream: 'nowhere' })).rejects.toThrow(/not host:port or a postgres:\/\/ URL/)
  })

  test('any protocol passes through, in tcp mode and in postgres mode (which stops reading)', async () => {
    // Any HTTP server: the Toxiproxy API would refuse the proxy's Host header, as it should.
    const api = http
      .createServer((_req, res) => res.end(JSON.stringify({ version: 'x' })))
      .listen(0, '127.0.0.1')
    await once(api, 'listening')
    try {
      for (const protocol of ['tcp', 'postgres'] as const) {
        const port = (api.address() as AddressInfo).port
        const p = await createProxy({ upstream: { host: '127.0.0.1', port }, protocol })
        proxies.push(p)
        const response = await fetch(`http://127.0.0.1:${p.port}/version`)
        expect(await response.json()).toHaveProperty('version')
      }
    } finally {
      api.close()
    }
  })

  test('latency jitter stays within latency ± jitter', async () => {
    const p = await proxy()
    const client = await connect(p.url)
    p.addToxic({ type: 'latency', attributes: { latency: 100, jitter: 50 } })
    for (let i = 0; i < 4; i++) {
      const { ms } = await timed(() => client.query('select 1'))
      expect(ms).toBeGreaterThanOrEqual(45)
      expect(ms).toBeLessThan(150 + 400)
    }
  })
})

describe('streams through a latency toxic', () => {
  test('a multi-chunk answer pays the latency about once, not once per chunk', async () => {
    const p = await proxy()
    const client = await connect(p.url)
    p.addToxic({ type: 'latency', attributes: { latency: 100 } })
    const { ms, value } = await timed(() => client.query("select repeat('z', 2000000) as big"))
    expect(value.rows[0].big).toHaveLength(2_000_000)
    expect(ms).toBeGreaterThanOrEqual(95)
    // 2 MB arrives in dozens of socket reads; paid one after another that would take seconds
    expect(ms).toBeLessThan(1500)
  })
})
