import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../../../servers/start-server.js'
import { proxiedUrl } from '../address.js'
import { createProxy, type ChaosProxy } from '../proxy.js'
import {
  Cleanups,
  query,
  failure,
  pgClient as connectPg,
  postgresJs as connectPostgresJs,
  expectCommittedButLost,
} from '../../../../test/support/chaos.js'

let cluster: StartedServer
let tlsCluster: StartedServer
const cleanups = new Cleanups()

beforeAll(async () => {
  ;[cluster, tlsCluster] = await Promise.all([
    startServer({ name: 'chaos-pg' }),
    startServer({ name: 'chaos-pg-tls', tls: 'on' }),
  ])
  await query(cluster.url, 'create table accounts (id int primary key, balance int)')
})
afterAll(async () => {
  await Promise.all([cluster?.stop(), tlsCluster?.stop()])
})
afterEach(async () => {
  await cleanups.run()
  await query(cluster.url, 'truncate accounts')
})

async function proxyFor(target: StartedServer = cluster): Promise<ChaosProxy> {
  const proxy = await createProxy({ upstream: target })
  cleanups.push(() => proxy.close())
  return proxy
}

const postgresJs = (url: string) => connectPostgresJs(url, cleanups)
const pgClient = (url: string) => connectPg(url, cleanups)

describe('injected errors (node-postgres)', () => {
  test('simple protocol: a matching statement fails once with 40001, the client stays usable', async () => {
    const proxy = await proxyFor()
    const client = await pgClient(proxy.url)
    const fault = proxy.addStatementFault({
      type: 'error',
      code: '40001',
      match: /insert into accounts/i,
      times: 1,
    })
    expect(await failure(client.query('insert into accounts values (1, 10)'))).toMatchObject({
      code: '40001',
      message: 'could not serialize access due to concurrent update',
    })
    expect((await client.query('select 1 as ok')).rows).toEqual([{ ok: 1 }])
    await client.query('insert into accounts values (1, 10)')
    expect(fault.hits).toBe(1)
    expect(await query(cluster.url, 'select id from accounts')).toEqual([{ id: 1 }])
  })

  test('inside a transaction the server really aborts it, as a real 40P01 would', async () => {
    const proxy = await proxyFor()
    const client = await pgClient(proxy.url)
    await client.query('begin')
    await client.query('insert into accounts values (2, 20)')
    proxy.addStatementFault({ type: 'error', code: '40P01', match: 'update accounts set balance = 0' })
    expect((await failure(client.query('update accounts set balance = 0'))).code).toBe('40P01')
    expect((await failure(client.query('select 1'))).code).toBe('25P02')
    await client.query('commit')
    expect(await query(cluster.url, 'select * from accounts')).toEqual([])
  })

  test('extended protocol (parameters): error on Execute, then the same query works', async () => {
    const proxy = await proxyFor()
    const client = await pgClient(proxy.url)
    proxy.addStatementFault({ type: 'error', code: '40001', match: /balance > \$1/, times: 2 })
    await client.query('insert into accounts values (3, 30)')
    const text = 'select id from accounts where balance > $1'
    expect((await failure(client.query(text, [5]))).code).toBe('40001')
    expect((await failure(client.query({ name: 'named', text, values: [5] }))).code).toBe('40001')
    expect((await client.query({ name: 'named', text, values: [5] })).rows).toEqual([{ id: 3 }])
    expect((await client.query(text, [5])).rows).toEqual([{ id: 3 }])
  })

  test('any SQLSTATE with its own message; probability 0 never fires; times counts', async () => {
    const proxy = await proxyFor()
    const client = await pgClient(proxy.url)
    proxy.addStatementFault({
      type: 'error',
      code: '23505',
      message: 'duplicate!',
      match: 'select 5',
      probability: 0,
    })
    expect((await client.query('select 5 as five')).rows).toEqual([{ five: 5 }])
    proxy.addStatementFault({ type: 'error', code: 'XX000', message: 'boom', match: /select 6/, times: 2 })
    const outcomes = []
    for (let i = 0; i < 4; i++) outcomes.push((await failure(client.query('select 6'))).code)
    expect(outcomes).toEqual(['XX000', 'XX000', 'none', 'none'])
  })

  test('57P01 answers like an admin shutdown: FATAL, then the connection is gone', async () => {
    const proxy = await proxyFor()
    const client = await pgClient(proxy.url)
    const ended = new Promise((resolve) => client.once('end', resolve))
    proxy.addStatementFault({ type: 'error', code: '57P01', match: /pg_sleep/ })
    const error = await failure(client.query('select pg_sleep(0)'))
    expect(error).toMatchObject({
      code: '57P01',
      message: 'terminating connection due to administrator command',
    })
    await ended
    await expect(client.query('select 1')).rejects.toThrow()
  })
})

describe('injected errors (postgres.js)', () => {
  test('prepared statement cached before the fault was added, then simple protocol', async () => {
    const proxy = await proxyFor()
    const sql = postgresJs(proxy.url)
    await sql`insert into accounts values (4, 40)`
    expect(await sql`select id from accounts where balance = ${40}`).toEqual([{ id: 4 }])
    proxy.addStatementFault({ type: 'error', code: '40001', match: /where balance = \$1/, times: 1 })
    expect((await failure(sql`select id from accounts where balance = ${40}`)).code).toBe('40001')
    expect(await sql`select id from accounts where balance = ${40}`).toEqual([{ id: 4 }])
    proxy.addStatementFault({ type: 'error', code: '40P01', match: 'select 8', times: 1 })
    expect((await failure(sql.unsafe('select 8').simple())).code).toBe('40P01')
    expect(await sql.unsafe('select 8 as eight').simple()).toEqual([{ eight: 8 }])
  })

  test('pipelined queries on one connection: only the matching one fails, the rest keep their answers', async () => {
    const proxy = await proxyFor()
    const sql = postgresJs(proxy.url)
    await sql`select 1`
    proxy.addStatementFault({ type: 'error', code: '40001', match: /select \$1::int \+ 100/ })
    const results = await Promise.all(
      [1, 2, 3, 4, 5].map((n) =>
        (n === 3 ? sql`select ${n}::int + 100 as v` : sql`select ${n}::int as v`).then(
          (rows) => rows[0]!.v as number,
          (e: { code: string }) => e.code,
        ),
      ),
    )
    expect(results).toEqual([1, 2, '40001', 4, 5])
    expect(await sql`select 6::int as v`).toEqual([{ v: 6 }])
  })

  test('57P01 closes the connection as a real admin shutdown does; postgres.js reconnects', async () => {
    const proxy = await proxyFor()
    const sql = postgresJs(proxy.url)
    proxy.addStatementFault({ type: 'error', code: '57P01', match: /select 9/, times: 1 })
    const codes: string[] = []
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        expect(await sql`select 9 as nine`).toEqual([{ nine: 9 }])
        break
      } catch (error) {
        codes.push((error as { code: string }).code)
      }
    }
    // postgres.js holds an ErrorResponse until a ReadyForQuery that a FATAL never sends: it reports
    // CONNECTION_CLOSED, then hands the stale 57P01 to the next query. pg_terminate_backend on a
    // real server gives the same two codes in the same order.
    expect(codes).toEqual(['CONNECTION_CLOSED', '57P01'])
  })
})

describe('delays', () => {
  test('a matching statement is held back; others are not', async () => {
    const proxy = await proxyFor()
    const client = await pgClient(proxy.url)
    proxy.addStatementFault({ type: 'delay', ms: 300, match: /from accounts/ })
    const time = async (text: string) => {
      const start = performance.now()
      await client.query(text)
      return performance.now() - start
    }
    expect(await time('select count(*) from accounts')).toBeGreaterThanOrEqual(290)
    expect(await time('select 1')).toBeLessThan(200)
    const sql = postgresJs(proxy.url)
    await sql`select 1`
    const start = performance.now()
    await sql`select count(*) from accounts where id > ${0}`
    expect(performance.now() - start).toBeGreaterThanOrEqual(290)
  })
})

describe('ambiguous commit: committed on the server, a connection error on the client', () => {
  test('node-postgres, simple protocol', async () => {
    const proxy = await proxyFor()
    const client = await pgClient(proxy.url)
    proxy.addStatementFault({ type: 'ambiguous-commit', times: 1 })
    await expectCommittedButLost(client, cluster.url, 10)
  })

  test('postgres.js sql.begin', async () => {
    const proxy = await proxyFor()
    const sql = postgresJs(proxy.url)
    proxy.addStatementFault({ type: 'ambiguous-commit', times: 1 })
    const outcome = await failure(sql.begin((tx) => tx`insert into accounts values (${11}, ${110})`))
    expect(outcome.code).not.toBe('none')
    expect(await query(cluster.url, 'select id from accounts')).toEqual([{ id: 11 }])
    // the fault was spent: the next transaction commits and says so
    await sql.begin((tx) => tx`insert into accounts values (${12}, ${120})`)
    expect(await query(cluster.url, 'select id from accounts order by id')).toEqual([{ id: 11 }, { id: 12 }])
  })
})

describe('through TLS', () => {
  test('statements inside TLS are invisible to the proxy: no statement fault, but toxics still act', async () => {
    const proxy = await proxyFor(tlsCluster)
    expect(proxy.url).toContain('sslmode=verify-full')
    proxy.addStatementFault({ type: 'error', code: '40001', match: 'select 1' })
    proxy.addToxic({ type: 'latency', attributes: { latency: 150 } })
    const client = await pgClient(proxy.url)
    const start = performance.now()
    expect((await client.query('select 1')).rows).toHaveLength(1)
    expect(performance.now() - start).toBeGreaterThanOrEqual(140)
    expect(
      (
        (await client.query('select ssl from pg_stat_ssl where pid = pg_backend_pid()')).rows[0] as {
          ssl: boolean
        }
      ).ssl,
    ).toBe(true)
  })

  test('with sslmode=disable to the proxy the same fault fires', async () => {
    const proxy = await proxyFor(tlsCluster)
    proxy.addStatementFault({ type: 'error', code: '40001', match: 'select 1' })
    const url = new URL(proxiedUrl(tlsCluster.url, proxy))
    url.search = '?sslmode=disable'
    const client = await pgClient(url.toString())
    expect((await failure(client.query('select 1'))).code).toBe('40001')
  })
})
