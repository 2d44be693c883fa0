import net from 'node:net'
import pg from 'pg'
import postgres from 'postgres'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../../../servers/start-server.js'
import { exhaustConnections } from '../../server/connections.js'
import { createProxy, type ChaosProxy } from '../proxy.js'
import { Cleanups } from '../../../../test/support/chaos.js'

let cluster: StartedServer
let tlsCluster: StartedServer
const cleanups = new Cleanups()

beforeAll(async () => {
  ;[cluster, tlsCluster] = await Promise.all([
    // a small limit so the comparison with a really full server is quick to set up
    startServer({ name: 'chaos-refuse', settings: { max_connections: 8 } }),
    startServer({ name: 'chaos-refuse-tls', tls: 'on' }),
  ])
})
afterAll(async () => {
  await Promise.all([cluster?.stop(), tlsCluster?.stop()])
})
afterEach(async () => {
  await cleanups.run()
})

async function proxyFor(target: StartedServer = cluster): Promise<ChaosProxy> {
  const proxy = await createProxy({ upstream: target })
  cleanups.push(() => proxy.close())
  return proxy
}

/** Connects with node-postgres, runs one statement, disconnects; the error code if it failed. */
async function pgConnect(url: string): Promise<{ code: string; message: string; severity?: string }> {
  const client = new pg.Client({ connectionString: url })
  client.on('error', () => undefined)
  try {
    await client.connect()
    await client.query('select 1')
    return { code: 'none', message: '' }
  } catch (error) {
    const e = error as { code?: string; message: string; severity?: string }
    return { code: e.code ?? '', message: e.message, severity: e.severity }
  } finally {
    await client.end().catch(() => undefined)
  }
}

async function postgresJsConnect(url: string): Promise<{ code: string; message: string }> {
  const sql = postgres(url, { max: 1, onnotice: () => undefined, connect_timeout: 5 })
  try {
    await sql`select 1`
    return { code: 'none', message: '' }
  } catch (error) {
    const e = error as { code?: string; message: string }
    return { code: e.code ?? '', message: e.message }
  } finally {
    await sql.end({ timeout: 1 })
  }
}

/** Sessions ever established to the test database, read from another database. */
async function sessions(): Promise<number> {
  const url = new URL(cluster.superuser.url)
  url.pathname = '/postgres'
  const client = new pg.Client({ connectionString: url.toString() })
  await client.connect()
  try {
    const { rows } = await client.query<{ sessions: string }>(
      'select sessions from pg_stat_database where datname = $1',
      [cluster.database],
    )
    return Number(rows[0]!.sessions)
  } finally {
    await client.end()
  }
}

async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, ms = 5000): Promise<T> {
  const until = Date.now() + ms
  let value = await read()
  while (!done(value) && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    value = await read()
  }
  return value
}

describe('refusing connections at startup', () => {
  test('node-postgres and postgres.js get FATAL 53300; once `times` is spent the next connects', async () => {
    const proxy = await proxyFor()
    const fault = proxy.addStartupFault({ times: 2 })
    expect(await pgConnect(proxy.url)).toEqual({
      code: '53300',
      message: 'sorry, too many clients already',
      severity: 'FATAL',
    })
    expect(await postgresJsConnect(proxy.url)).toMatchObject({
      code: '53300',
      message: 'sorry, too many clients already',
    })
    expect(fault.hits).toBe(2)
    expect(proxy.listStartupFaults()).toEqual([])
    expect(await pgConnect(proxy.url)).toEqual({ code: 'none', message: '' })
    expect(await postgresJsConnect(proxy.url)).toEqual({ code: 'none', message: '' })
  })

  test('the refusal is what a full server sends: same code, severity and message', async () => {
    let real
    {
      await using _held = await exhaustConnections(cluster, { url: cluster.superuser.url })
      real = await pgConnect(cluster.superuser.url)
    }
    expect(real).toEqual({ code: '53300', message: 'sorry, too many clients already', severity: 'FATAL' })
    const proxy = await proxyFor()
    proxy.addStartupFault({ times: 1 })
    expect(await pgConnect(proxy.url)).toEqual(real)
  })

  test('the server never sees a refused startup: no session is established', async () => {
    const proxy = await proxyFor()
    // sessions of earlier tests are counted when their backends exit: wait for the count to settle
    let before = await sessions()
    for (let settled = 0; settled < 3;) {
      await new Promise((resolve) => setTimeout(resolve, 150))
      const now = await sessions()
      settled = now === before ? settled + 1 : 0
      before = now
    }
    proxy.addStartupFault({ code: '57P03', times: 3 })
    for (let i = 0; i < 3; i++) {
      expect(await pgConnect(proxy.url)).toMatchObject({
        code: '57P03',
        message: 'the database system is starting up',
      })
    }
    // one real session through the proxy, so the count is known to have moved past the refusals
    expect(await pgConnect(proxy.url)).toMatchObject({ code: 'none' })
    await waitFor(sessions, (n) => n > before)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect((await sessions()) - before).toBe(1)
    const active = await waitFor(
      async () => {
        const client = new pg.Client({ connectionString: cluster.superuser.url })
        await client.connect()
        try {
          const { rows } = await client.query<{ n: number }>(
            `select count(*)::int as n from pg_stat_activity
              where backend_type = 'client backend' and pid <> pg_backend_pid()`,
          )
          return rows[0]!.n
        } finally {
          await client.end()
        }
      },
      (n) => n === 0,
    )
    expect(active).toBe(0)
  })

  test('a refused connection never reaches the upstream: no connection, not one byte', async () => {
    // a listener that records what arrives, in place of the server, shows what the proxy forwards
    const received: Buffer[] = []
    const sockets = new Set<net.Socket>()
    let connections = 0
    const recorder = net.createServer((socket) => {
      connections++
      sockets.add(socket)
      socket.on('data', (chunk: Buffer) => received.push(chunk))
      socket.on('close', () => sockets.delete(socket))
    })
    await new Promise<void>((resolve) => recorder.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise((resolve) => recorder.close(resolve)))
    const port = (recorder.address() as net.AddressInfo).port
    const proxy = await createProxy({ upstream: `postgres://app:secret@127.0.0.1:${port}/app` })
    cleanups.push(() => proxy.close())
    proxy.addStartupFault()
    expect(await pgConnect(proxy.url)).toMatchObject({ code: '53300', severity: 'FATAL' })
    expect(await postgresJsConnect(proxy.url)).toMatchObject({ code: '53300' })
    await waitFor(
      async () => sockets.size,
      (n) => n === 0,
    )
    expect(Buffer.concat(received).length).toBe(0)
    // the proxy read the startup before dialling: the server is not even connected to
    expect(connections).toBe(0)
  })

  test('any code and message; probability 0 never refuses; removing the fault lets everyone in', async () => {
    const proxy = await proxyFor()
    const never = proxy.addStartupFault({ code: '53300', probability: 0 })
    expect(await pgConnect(proxy.url)).toMatchObject({ code: 'none' })
    expect(never.hits).toBe(0)
    const custom = proxy.addStartupFault({ code: '28000', message: 'no entry for host' })
    expect(await pgConnect(proxy.url)).toMatchObject({ code: '28000', message: 'no entry for host' })
    expect(await pgConnect(proxy.url)).toMatchObject({ code: '28000' })
    proxy.removeStartupFault(custom)
    expect(await pgConnect(proxy.url)).toMatchObject({ code: 'none' })
    proxy.addStartupFault()
    await proxy.reset()
    expect(await pgConnect(proxy.url)).toMatchObject({ code: 'none' })
  })

  test('bad specs are one clear error', async () => {
    const proxy = await proxyFor()
    expect(() => proxy.addStartupFault({ code: '5330' })).toThrow(/SQLSTATE "5330" is not five/)
    expect(() => proxy.addStartupFault({ probability: 2 })).toThrow(/probability 2 is not between 0 and 1/)
    const raw = await createProxy({ upstream: cluster, protocol: 'tcp' })
    cleanups.push(() => raw.close())
    expect(() => raw.addStartupFault()).toThrow(/passes raw TCP/)
  })

  test('through TLS negotiated with the server (passthrough) the startup is encrypted: not refused', async () => {
    const proxy = await proxyFor(tlsCluster)
    expect(proxy.url).toContain('sslmode=verify-full')
    const fault = proxy.addStartupFault()
    expect(await pgConnect(proxy.url)).toMatchObject({ code: 'none' })
    expect(fault.hits).toBe(0)
    // without TLS to the proxy the refusal applies
    const plain = new URL(proxy.url)
    plain.search = '?sslmode=disable'
    expect(await pgConnect(plain.toString())).toMatchObject({ code: '53300' })
  })
})
