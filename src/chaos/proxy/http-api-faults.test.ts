import net from 'node:net'
import postgres from 'postgres'
import { Toxiproxy } from 'toxiproxy-node-client'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../../servers/start-server.js'
import { proxiedUrl } from './address.js'
import { serveToxiproxyApi, type ToxiproxyApi } from './http-api.js'
import {
  chaosServe,
  Cleanups,
  query,
  failure,
  pgClient as connectPg,
  expectCommittedButLost,
} from '../../../test/support/chaos.js'

let cluster: StartedServer
let api: ToxiproxyApi
const cleanups = new Cleanups()

beforeAll(async () => {
  ;[cluster, api] = await Promise.all([
    startServer({ name: 'chaos-api-faults' }),
    serveToxiproxyApi({ port: 0 }),
  ])
  await query(cluster.url, 'create table accounts (id int primary key, balance int)')
})
afterAll(async () => {
  await api?.close()
  await cluster?.stop()
})
afterEach(async () => {
  await cleanups.run()
  await query(cluster.url, 'truncate accounts')
})

async function call(method: string, route: string, body?: unknown, base = api.url) {
  const response = await fetch(`${base}${route}`, {
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.text()
  return { status: response.status, json: text ? (JSON.parse(text) as unknown) : undefined }
}

/** Creates a proxy over HTTP, as a script would; returns its name and the URL through it. */
async function httpProxy(name: string, base = api.url): Promise<{ name: string; url: string }> {
  const created = await call(
    'POST',
    '/proxies',
    { name, listen: '127.0.0.1:0', upstream: `127.0.0.1:${cluster.port}` },
    base,
  )
  expect(created.status).toBe(201)
  cleanups.push(() => call('DELETE', `/proxies/${name}`, undefined, base))
  const port = Number((created.json as { listen: string }).listen.split(':').pop())
  return { name, url: proxiedUrl(cluster.url, { host: '127.0.0.1', port }) }
}

const pgClient = (url: string) => connectPg(url, cleanups)

describe('pg_* toxics over raw HTTP', () => {
  test('pg_error 40001 for a statement, `times` 1: the client gets 40001, then the statement works', async () => {
    const { name, url } = await httpProxy('faults_error')
    const client = await pgClient(url)
    const added = await call('POST', `/proxies/${name}/toxics`, {
      type: 'pg_error',
      attributes: { match: 'INSERT INTO accounts VALUES (1, 10);', code: '40001', times: 1 },
    })
    expect(added).toEqual({
      status: 200,
      json: {
        name: 'pg_error_upstream',
        type: 'pg_error',
        stream: 'upstream',
        toxicity: 1,
        attributes: {
          match: 'INSERT INTO accounts VALUES (1, 10);',
          code: '40001',
          message: 'could not serialize access due to concurrent update',
          close: false,
          times: 1,
          hits: 0,
        },
      },
    })
    expect(await failure(client.query('insert into accounts values (1, 10)'))).toEqual({
      code: '40001',
      message: 'could not serialize access due to concurrent update',
    })
    await client.query('insert into accounts values (1, 10)')
    expect(await query(cluster.url, 'select id from accounts')).toEqual([{ id: 1 }])
    // spent, still listed (so a script's DELETE finds it) with the statements it acted on
    const listed = await call('GET', `/proxies/${name}/toxics`)
    expect(listed.json).toMatchObject([{ name: 'pg_error_upstream', attributes: { times: 1, hits: 1 } }])
    const proxies = (await call('GET', '/proxies')).json as Record<string, { toxics: unknown[] }>
    expect(proxies[name]!.toxics).toEqual(listed.json)
    expect((await call('GET', `/proxies/${name}`)).json).toMatchObject({ toxics: listed.json })
  })

  test('regex matches a pattern (case-insensitive) in parameterised statements too', async () => {
    const { name, url } = await httpProxy('faults_regex')
    const client = await pgClient(url)
    await call('POST', `/proxies/${name}/toxics`, {
      type: 'pg_error',
      attributes: { regex: 'from accounts where id = \\$1', code: '40P01' },
    })
    expect((await failure(client.query('SELECT * FROM accounts WHERE id = $1', [1]))).code).toBe('40P01')
    expect((await failure(client.query('select * from accounts'))).code).toBe('none')
    const sql = postgres(url, { max: 1, onnotice: () => undefined })
    cleanups.push(() => sql.end({ timeout: 1 }))
    expect((await failure(sql`select * from accounts where id = ${1}`)).code).toBe('40P01')
    expect(await sql`select count(*)::int as n from accounts where id > ${0}`).toEqual([{ n: 0 }])
  })

  test('pg_delay holds matching statements back; others are not', async () => {
    const { name, url } = await httpProxy('faults_delay')
    const client = await pgClient(url)
    const added = await call('POST', `/proxies/${name}/toxics`, {
      type: 'pg_delay',
      name: 'slow_count',
      stream: 'upstream',
      attributes: { regex: '^select count', ms: 300 },
    })
    expect(added.json).toMatchObject({ attributes: { regex: '^select count', ms: 300, times: 0, hits: 0 } })
    const time = async (sql: string) => {
      const start = performance.now()
      await client.query(sql)
      return performance.now() - start
    }
    expect(await time('select count(*) from accounts')).toBeGreaterThanOrEqual(290)
    expect(await time('select 1')).toBeLessThan(200)
  })

  test('pg_ambiguous_commit cuts after COMMIT: the client gets a connection error, the row is committed', async () => {
    const { name, url } = await httpProxy('faults_commit')
    const client = await pgClient(url)
    // a client that sends attributes: null gets the defaults
    const spare = await call('POST', `/proxies/${name}/toxics`, {
      type: 'pg_ambiguous_commit',
      name: 'never',
      toxicity: 0,
      attributes: null,
    })
    expect(spare.json).toMatchObject({ toxicity: 0, attributes: { regex: '^\\s*(commit|end)\\b', times: 0 } })
    const added = await call('POST', `/proxies/${name}/toxics`, {
      type: 'pg_ambiguous_commit',
      attributes: { times: 1 },
    })
    expect(added.json).toMatchObject({ attributes: { regex: '^\\s*(commit|end)\\b', times: 1, hits: 0 } })
    await expectCommittedButLost(client, cluster.url, 7)
  })

  test('update (merged; match replaces regex), toxicity = probability, DELETE and /reset', async () => {
    const { name, url } = await httpProxy('faults_admin')
    const client = await pgClient(url)
    await call('POST', `/proxies/${name}/toxics`, {
      type: 'pg_error',
      name: 'e',
      attributes: { regex: 'select 5', code: '40001' },
    })
    const updated = await call('POST', `/proxies/${name}/toxics/e`, {
      attributes: { match: 'select 6', code: '57014', message: 'canceling statement due to user request' },
    })
    expect(updated).toMatchObject({
      status: 200,
      json: { name: 'e', attributes: { match: 'select 6', code: '57014', times: 0 } },
    })
    expect((updated.json as { attributes: object }).attributes).not.toHaveProperty('regex')
    expect((await failure(client.query('select 5'))).code).toBe('none')
    expect(await failure(client.query('select 6'))).toEqual({
      code: '57014',
      message: 'canceling statement due to user request',
    })
    const never = await call('PATCH', `/proxies/${name}/toxics/e`, { toxicity: 0 })
    expect(never.json).toMatchObject({ toxicity: 0 })
    expect((await failure(client.query('select 6'))).code).toBe('none')
    expect((await call('GET', `/proxies/${name}/toxics/e`)).json).toMatchObject({ attributes: { hits: 1 } })
    expect((await call('DELETE', `/proxies/${name}/toxics/e`)).status).toBe(204)
    expect((await call('DELETE', `/proxies/${name}/toxics/e`)).json).toEqual({
      error: 'toxic not found',
      status: 404,
    })

    await call('POST', `/proxies/${name}/toxics`, {
      type: 'pg_error',
      attributes: { match: 'select 8', code: '40001' },
    })
    await call('POST', `/proxies/${name}/toxics`, { type: 'pg_refuse_connection' })
    await call('POST', `/proxies/${name}/toxics`, { type: 'latency', attributes: { latency: 1 } })
    expect(((await call('GET', `/proxies/${name}/toxics`)).json as unknown[]).length).toBe(3)
    expect((await call('POST', '/reset')).status).toBe(204)
    expect((await call('GET', `/proxies/${name}/toxics`)).json).toEqual([])
    expect((await failure(client.query('select 8'))).code).toBe('none')
    expect((await failure(pgClient(url))).code).toBe('none')
  })

  test('bad attributes are 400 with one clear message in Toxiproxy error JSON', async () => {
    const { name } = await httpProxy('faults_bad')
    const add = (body: unknown) => call('POST', `/proxies/${name}/toxics`, body)
    const cases: [unknown, RegExp][] = [
      [
        { type: 'pg_error', attributes: { match: 'select 1', code: '4001' } },
        /code "4001" is not a SQLSTATE/,
      ],
      [{ type: 'pg_error', attributes: { match: 'select 1', code: 40001 } }, /code 40001 is not a SQLSTATE/],
      [
        { type: 'pg_error', attributes: { regex: '(', code: '40001' } },
        /regex "\(" is not a valid regular expression/,
      ],
      [
        { type: 'pg_error', stream: 'downstream', attributes: { match: 'select 1', code: '40001' } },
        /pg_error acts on what the client sends, so its stream must be upstream/,
      ],
      [{ type: 'pg_error', attributes: { code: '40001' } }, /pg_error needs attribute match .* or regex/],
      [{ type: 'pg_error', attributes: { match: 'select 1' } }, /pg_error needs attribute code/],
      [
        { type: 'pg_error', attributes: { match: 'a', regex: 'b', code: '40001' } },
        /match .* or regex .*, not both/,
      ],
      [
        { type: 'pg_error', attributes: { match: 'a', code: '40001', cdoe: 'x' } },
        /pg_error has no attribute cdoe/,
      ],
      [{ type: 'pg_delay', attributes: { match: 'select 1' } }, /pg_delay needs attribute ms/],
      [
        { type: 'pg_delay', attributes: { match: 'select 1', ms: -1 } },
        /ms must be a number of milliseconds/,
      ],
      [{ type: 'pg_ambiguous_commit', attributes: { times: 1.5 } }, /times must be a whole number/],
      [{ type: 'pg_refuse_connection', attributes: { code: '' } }, /code "" is not a SQLSTATE/],
      [{ type: 'pg_refuse_connection', toxicity: 2 }, /toxicity must be a number between 0 and 1/],
    ]
    for (const [body, message] of cases) {
      const reply = await add(body)
      expect(reply.status, JSON.stringify(body)).toBe(400)
      const { error, status } = reply.json as { error: string; status: number }
      expect(status).toBe(400)
      expect(error).toMatch(/^bad request body: /)
      expect(error).toMatch(message)
      expect(error.split('\n')).toHaveLength(1)
    }
    expect((await call('GET', `/proxies/${name}/toxics`)).json).toEqual([])
    await add({ type: 'pg_error', name: 'ok', attributes: { match: 'select 1', code: '40001' } })
    expect(
      (await call('POST', `/proxies/${name}/toxics/ok`, { attributes: { code: 'nope' } })).json,
    ).toMatchObject({
      status: 400,
      error: expect.stringMatching(/code "nope" is not a SQLSTATE/),
    })
    expect((await add({ type: 'pg_delay', name: 'ok', attributes: { match: 'x', ms: 1 } })).json).toEqual({
      error: 'toxic already exists',
      status: 409,
    })
    // network toxics still take numbers only, as before
    expect((await add({ type: 'latency', attributes: { latency: 'slow' } })).json).toEqual({
      error: 'bad request body: attribute latency must be a number',
      status: 400,
    })
  })

  test('a proxy made over the API still passes other protocols untouched (short first message)', async () => {
    const echo = net.createServer((socket) => socket.pipe(socket))
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise((resolve) => echo.close(resolve)))
    const created = await call('POST', '/proxies', {
      name: 'faults_echo',
      upstream: `127.0.0.1:${(echo.address() as net.AddressInfo).port}`,
    })
    cleanups.push(() => call('DELETE', '/proxies/faults_echo'))
    const port = Number((created.json as { listen: string }).listen.split(':').pop())
    const socket = net.connect(port, '127.0.0.1')
    cleanups.push(async () => socket.destroy())
    socket.write('PING\r\n')
    const reply = await new Promise<string>((resolve) =>
      socket.once('data', (d: Buffer) => resolve(d.toString())),
    )
    expect(reply).toBe('PING\r\n')
  })
})

describe('pg_* toxics with toxiproxy-node-client', () => {
  test('add/get/update/remove pg_error; the proxy list parses with string attributes', async () => {
    const toxiproxy = new Toxiproxy(api.url)
    const proxy = await toxiproxy.createProxy({
      name: 'client_faults',
      listen: '127.0.0.1:0',
      upstream: `127.0.0.1:${cluster.port}`,
    })
    cleanups.push(() => proxy.remove())
    const url = proxiedUrl(cluster.url, { host: '127.0.0.1', port: Number(proxy.listen.split(':').pop()) })
    const client = await pgClient(url)
    const toxic = await proxy.addToxic({
      name: 'serialization',
      type: 'pg_error',
      stream: 'upstream',
      toxicity: 1,
      attributes: { regex: '^insert into accounts', code: '40001', times: 2 },
    } as never)
    expect(toxic.attributes).toMatchObject({ code: '40001', times: 2, hits: 0 })
    expect((await failure(client.query('insert into accounts values (1, 1)'))).code).toBe('40001')
    expect((await proxy.getToxic('serialization')).attributes).toMatchObject({ hits: 1 })
    const updated = await toxic.update({ attributes: { code: '40P01' }, toxicity: 1 } as never)
    expect(updated.attributes).toMatchObject({ code: '40P01', regex: '^insert into accounts', times: 2 })
    expect((await failure(client.query('insert into accounts values (1, 1)'))).code).toBe('40P01')
    await client.query('insert into accounts values (1, 1)')
    const all = await toxiproxy.getAll()
    expect(all.client_faults).toBeDefined()
    const listed = await toxiproxy.get('client_faults')
    expect(listed.name).toBe('client_faults')
    await toxic.remove()
    expect((await failure(client.query('insert into accounts values (2, 2)'))).code).toBe('none')
  })

  test('pg_refuse_connection: node-postgres and postgres.js get 53300, then `times` is spent', async () => {
    const toxiproxy = new Toxiproxy(api.url)
    const proxy = await toxiproxy.createProxy({
      name: 'client_refuse',
      listen: '127.0.0.1:0',
      upstream: `127.0.0.1:${cluster.port}`,
    })
    cleanups.push(() => proxy.remove())
    const url = proxiedUrl(cluster.url, { host: '127.0.0.1', port: Number(proxy.listen.split(':').pop()) })
    const toxic = await proxy.addToxic({
      name: 'full',
      type: 'pg_refuse_connection',
      stream: 'upstream',
      toxicity: 1,
      attributes: { times: 2 },
    } as never)
    expect(toxic.attributes).toEqual({
      code: '53300',
      message: 'sorry, too many clients already',
      times: 2,
      hits: 0,
    })
    expect(await failure(pgClient(url))).toEqual({
      code: '53300',
      message: 'sorry, too many clients already',
    })
    const sql = postgres(url, { max: 1, onnotice: () => undefined })
    cleanups.push(() => sql.end({ timeout: 1 }))
    expect(await failure(sql`select 1`)).toMatchObject({
      code: '53300',
      message: 'sorry, too many clients already',
    })
    expect((await proxy.getToxic('full')).attributes).toMatchObject({ hits: 2 })
    expect((await failure(pgClient(url))).code).toBe('none')
    expect(await sql`select 1 as ok`).toEqual([{ ok: 1 }])
  })
})

describe('pgrig chaos serve', () => {
  test('takes pg_error and pg_refuse_connection over HTTP', async () => {
    const { stdout: line, child } = await chaosServe()
    const base = /http:\/\/\S+/.exec(line)![0]
    const { name, url } = await httpProxy('cli_faults', base)
    const refuse = await call(
      'POST',
      `/proxies/${name}/toxics`,
      { type: 'pg_refuse_connection', attributes: { code: '57P03', times: 1 } },
      base,
    )
    expect(refuse.status).toBe(200)
    expect(await failure(pgClient(url))).toEqual({
      code: '57P03',
      message: 'the database system is starting up',
    })
    const client = await pgClient(url)
    const error = await call(
      'POST',
      `/proxies/${name}/toxics`,
      { type: 'pg_error', attributes: { match: 'select 42', code: '40001', times: 1 } },
      base,
    )
    expect(error.status).toBe(200)
    expect((await failure(client.query('select 42'))).code).toBe('40001')
    expect((await client.query('select 42 as n')).rows).toEqual([{ n: 42 }])
    expect((await call('GET', `/proxies/${name}/toxics`, undefined, base)).json).toMatchObject([
      { type: 'pg_refuse_connection', attributes: { hits: 1 } },
      { type: 'pg_error', attributes: { hits: 1 } },
    ])
    await client.end()
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
  })
})
