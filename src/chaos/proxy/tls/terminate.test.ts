import { execFile } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import tls from 'node:tls'
import { promisify } from 'node:util'
import pg from 'pg'
import postgres from 'postgres'
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../../../servers/start-server.js'
import { PgrigError } from '../../../errors.js'
import { proxiedUrl } from '../address.js'
import { serveToxiproxyApi } from '../http-api.js'
import { createProxy, type ChaosProxy, type ProxyOptions } from '../proxy.js'
import { Cleanups, query, failure, expectCommittedButLost } from '../../../../test/support/chaos.js'

const execFileP = promisify(execFile)

let tlsCluster: StartedServer
let plainCluster: StartedServer
let certCluster: StartedServer
let ca: string
const cleanups = new Cleanups()

beforeAll(async () => {
  ;[tlsCluster, plainCluster, certCluster] = await Promise.all([
    startServer({ name: 'tls-term', tls: 'on' }),
    startServer({ name: 'tls-term-plain' }),
    startServer({ name: 'tls-term-cert', profile: 'client-cert' }),
  ])
  ca = fs.readFileSync(tlsCluster.tls!.caFile, 'utf8')
  await query(tlsCluster.url, 'create table accounts (id int primary key, balance int)')
})
afterAll(async () => {
  await Promise.all([tlsCluster?.stop(), plainCluster?.stop(), certCluster?.stop()])
})
afterEach(async () => {
  await cleanups.run()
  await query(tlsCluster.url, 'truncate accounts')
})

async function terminating(options: Partial<ProxyOptions> = {}): Promise<ChaosProxy> {
  const proxy = await createProxy({ upstream: tlsCluster, tls: 'terminate', ...options })
  cleanups.push(() => proxy.close())
  return proxy
}

/** node-postgres with TLS verified against the pgrig CA (no URL, so no sslmode from it). */
async function pgTls(
  proxy: { host: string; port: number },
  ssl: tls.ConnectionOptions | false = { ca, rejectUnauthorized: true },
  cluster = tlsCluster,
): Promise<pg.Client> {
  const client = new pg.Client({
    host: proxy.host,
    port: proxy.port,
    user: cluster.user,
    password: cluster.password,
    database: cluster.database,
    ssl,
  })
  client.on('error', () => undefined)
  cleanups.push(() => client.end())
  await client.connect()
  return client
}

/** `options` may carry `socket` (a custom socket factory postgres.js takes but does not type). */
function postgresJs(proxy: { host: string; port: number }, options: Record<string, unknown> = {}) {
  const sql = postgres({
    host: proxy.host,
    port: proxy.port,
    user: tlsCluster.user,
    pass: tlsCluster.password,
    database: tlsCluster.database,
    ssl: { ca, rejectUnauthorized: true },
    max: 1,
    onnotice: () => undefined,
    ...(options as postgres.Options<Record<string, postgres.PostgresType>>),
  })
  cleanups.push(() => sql.end({ timeout: 1 }))
  return sql
}

const serverSsl = async (client: pg.Client) =>
  (
    (await client.query('select ssl from pg_stat_ssl where pid = pg_backend_pid()')).rows[0] as {
      ssl: boolean
    }
  ).ssl

describe('statement faults act through a terminating proxy', () => {
  test('node-postgres with ssl { ca, rejectUnauthorized }: an injected 40001 fails the statement, both legs are TLS', async () => {
    const proxy = await terminating()
    const client = await pgTls(proxy)
    expect(await serverSsl(client)).toBe(true)
    const socket = (client as unknown as { connection: { stream: tls.TLSSocket } }).connection.stream
    expect(socket.encrypted).toBe(true)
    expect(socket.getPeerCertificate().subject.CN).toBe('localhost')
    proxy.addStatementFault({ type: 'error', code: '40001', match: /insert into accounts/i, times: 1 })
    expect(await failure(client.query('insert into accounts values (1, 10)'))).toMatchObject({
      code: '40001',
    })
    await client.query('insert into accounts values (1, 10)')
    expect(await query(tlsCluster.url, 'select id from accounts')).toEqual([{ id: 1 }])
  })

  test('postgres.js with ssl: a delay fault holds the matching statement, others go at once', async () => {
    const proxy = await terminating()
    const sql = postgresJs(proxy)
    await sql`select 1`
    proxy.addStatementFault({ type: 'delay', ms: 300, match: /from accounts/ })
    let start = performance.now()
    await sql`select count(*) from accounts`
    expect(performance.now() - start).toBeGreaterThanOrEqual(280)
    start = performance.now()
    await sql`select 2`
    expect(performance.now() - start).toBeLessThan(250)
    proxy.addStatementFault({ type: 'error', code: '40P01', match: /insert/ })
    expect((await failure(sql`insert into accounts values (${3}, ${30})`)).code).toBe('40P01')
  })

  test('ambiguous commit: COMMIT reaches the server, the TLS client sees the connection lost', async () => {
    const proxy = await terminating()
    const client = await pgTls(proxy)
    proxy.addStatementFault({ type: 'ambiguous-commit', times: 1 })
    await expectCommittedButLost(client, tlsCluster.url, 10)

    const sql = postgresJs(proxy)
    proxy.addStatementFault({ type: 'ambiguous-commit', times: 1 })
    expect((await failure(sql.begin((tx) => tx`insert into accounts values (${11}, ${110})`))).code).not.toBe(
      'none',
    )
    expect(await query(tlsCluster.url, 'select id from accounts order by id')).toEqual([
      { id: 10 },
      { id: 11 },
    ])
  })

  test('libpq (psql) with sslmode=verify-full on proxy.url: the statement fault answers', async () => {
    const proxy = await terminating()
    expect(proxy.url).toContain('sslmode=verify-full')
    proxy.addStatementFault({ type: 'error', code: '57014', match: 'select 42' })
    const psql = (url: string) =>
      execFileP('psql', [url, '-XAtc', 'select 42']).then(
        (r) => r.stdout.trim(),
        (e: { stderr: string }) => e.stderr.trim(),
      )
    expect(await psql(proxy.url)).toMatch(/ERROR: +error 57014 injected by pgrig/)
    await proxy.reset()
    // the certificate names localhost too
    const byName = new URL(proxy.url)
    byName.hostname = 'localhost'
    expect(await psql(byName.toString())).toBe('42')
  })

  test('a FATAL fault (57P01) reaches a TLS client, then the connection closes', async () => {
    const proxy = await terminating()
    const client = await pgTls(proxy)
    proxy.addStatementFault({ type: 'error', code: '57P01', match: 'select 9' })
    expect(await failure(client.query('select 9'))).toMatchObject({ code: '57P01' })
    expect((await failure(client.query('select 1'))).message).toMatch(/not queryable|terminated|closed/i)
  })

  test('a startup fault refuses TLS clients after the handshake with 53300, as a full server does', async () => {
    const proxy = await terminating()
    const full = proxy.addStartupFault({ times: 1 })
    expect(await failure(pgTls(proxy))).toMatchObject({
      code: '53300',
      message: 'sorry, too many clients already',
    })
    expect(full.hits).toBe(1)
    const client = await pgTls(proxy)
    expect(await serverSsl(client)).toBe(true)
  })

  test('verify-full: a client that expects another host name refuses the proxy', async () => {
    const proxy = await terminating()
    const error = await failure(pgTls(proxy, { ca, rejectUnauthorized: true, servername: 'db.example' }))
    expect(error.message).toMatch(/does not match certificate's altnames/)
  })
})

describe('toxics through a terminating proxy', () => {
  test('latency still acts on a TLS connection', async () => {
    const proxy = await terminating()
    const client = await pgTls(proxy)
    proxy.addToxic({ type: 'latency', attributes: { latency: 150 } })
    const start = performance.now()
    await client.query('select 1')
    expect(performance.now() - start).toBeGreaterThanOrEqual(140)
  })

  test('slicer and limit_data act on the decrypted stream; TLS records stay whole', async () => {
    const proxy = await terminating()
    const client = await pgTls(proxy)
    proxy.addToxic({ type: 'slicer', stream: 'downstream', attributes: { average_size: 7, delay: 100 } })
    proxy.addToxic({ type: 'slicer', stream: 'upstream', attributes: { average_size: 3, delay: 100 } })
    const { rows } = await client.query("select repeat('x', 2000) as text")
    expect((rows[0] as { text: string }).text).toHaveLength(2000)
    await proxy.reset()
    const limited = await pgTls(proxy)
    const ended = new Promise<Error>((resolve) => limited.on('error', resolve))
    proxy.addToxic({ type: 'limit_data', stream: 'downstream', attributes: { bytes: 100 } })
    expect((await failure(limited.query("select repeat('x', 2000)"))).message).toMatch(/terminated|closed/i)
    expect((await ended).message).toMatch(/terminated|closed/i)
  })

  test('down: disable() drops TLS connections, enable() takes new ones', async () => {
    const proxy = await terminating()
    const client = await pgTls(proxy)
    const ended = new Promise<Error>((resolve) => client.on('error', resolve))
    await proxy.disable()
    expect((await ended).message).toMatch(/terminated|closed/i)
    expect((await failure(pgTls(proxy))).message).toMatch(/ECONNREFUSED/)
    await proxy.enable()
    expect((await (await pgTls(proxy)).query('select 1 as one')).rows).toEqual([{ one: 1 }])
  })

  test('reset_peer resets the TCP connection under the TLS', async () => {
    const proxy = await terminating()
    const client = await pgTls(proxy)
    const ended = new Promise<Error>((resolve) => client.on('error', resolve))
    proxy.addToxic({ type: 'reset_peer', attributes: { timeout: 0 } })
    expect((await ended).message).toMatch(/ECONNRESET|terminated/)
  })
})

describe('the negotiation', () => {
  test('a plain client through a terminating proxy gets the plain path, with faults', async () => {
    const proxy = await terminating()
    const url = new URL(proxiedUrl(tlsCluster.url, proxy))
    url.search = '?sslmode=disable'
    const client = await pgTls(proxy, false)
    expect(await serverSsl(client)).toBe(false)
    proxy.addStatementFault({ type: 'error', code: '40001', match: 'select 1' })
    expect((await failure(client.query('select 1'))).code).toBe('40001')
    expect(await query(url.toString(), 'select 2 as two')).toEqual([{ two: 2 }])
  })

  test('GSSENCRequest is answered N, the SSLRequest after it S', async () => {
    const proxy = await terminating()
    const socket = net.connect(proxy.port, proxy.host)
    cleanups.push(async () => socket.destroy())
    const answers: string[] = []
    socket.on('data', (b: Buffer) => answers.push(b.toString('latin1')))
    const ask = async (code: number) => {
      const bytes = Buffer.alloc(8)
      bytes.writeUInt32BE(8, 0)
      bytes.writeUInt32BE(code, 4)
      socket.write(bytes)
      await expect.poll(() => answers.length).toBeGreaterThan(0)
      return answers.splice(0).join('')
    }
    expect(await ask(80877104)).toBe('N')
    expect(await ask(80877103)).toBe('S')
  })

  test('a client that stalls in the negotiation is dropped after handshakeTimeout', async () => {
    const proxy = await terminating({ tls: { handshakeTimeout: 300 } })
    const socket = net.connect(proxy.port, proxy.host)
    cleanups.push(async () => socket.destroy())
    const answers: string[] = []
    socket.on('data', (b: Buffer) => answers.push(b.toString('latin1')))
    const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now())))
    const bytes = Buffer.alloc(8)
    bytes.writeUInt32BE(8, 0)
    bytes.writeUInt32BE(80877103, 4)
    socket.write(bytes)
    await expect.poll(() => answers.join('')).toBe('S')
    // no ClientHello follows: the proxy gives up on its own
    const asked = performance.now()
    expect((await closed) - asked).toBeLessThan(3000)
    expect(proxy.connections).toBe(0)
  })

  test('direct TLS (sslnegotiation=direct: ClientHello first, ALPN postgresql) reaches the statement faults', async () => {
    const proxy = await terminating()
    const sql = postgresJs(proxy, {
      ssl: false,
      socket: () =>
        new Promise<net.Socket>((resolve, reject) => {
          const socket = tls.connect({
            host: proxy.host,
            port: proxy.port,
            ca,
            ALPNProtocols: ['postgresql'],
          })
          socket.once('secureConnect', () => {
            if (socket.alpnProtocol === 'postgresql') resolve(socket)
            else reject(new Error(`ALPN ${socket.alpnProtocol}`))
          })
          socket.once('error', reject)
        }),
    })
    expect(await sql`select ssl from pg_stat_ssl where pid = pg_backend_pid()`).toEqual([{ ssl: true }])
    proxy.addStatementFault({ type: 'error', code: '40001', match: /select 3/ })
    expect((await failure(sql`select 3`)).code).toBe('40001')
  })

  test('a server that refuses TLS: TLS clients get one FATAL line, or plain TCP with upstream sslmode prefer', async () => {
    const dir = path.dirname(tlsCluster.tls!.caFile)
    const identity = { cert: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key') }
    // The plain server's URL says sslmode=disable, which a terminating proxy would follow: ask for TLS.
    const refusing = await createProxy({
      upstream: plainCluster,
      tls: { ...identity, upstream: { sslmode: 'require' } },
    })
    cleanups.push(() => refusing.close())
    const error = await failure(pgTls(refusing, { ca }, plainCluster))
    expect(error.code, error.message).toBe('08001')
    expect(error.message).toMatch(
      /^pgrig proxy \S+: the server at 127\.0\.0\.1:\d+ does not accept TLS \(it answered N to SSLRequest\); .*sslmode: 'prefer'/,
    )
    const preferring = await createProxy({
      upstream: plainCluster,
      tls: { ...identity, upstream: { sslmode: 'prefer' } },
    })
    cleanups.push(() => preferring.close())
    const client = await pgTls(preferring, { ca }, plainCluster)
    expect(await serverSsl(client)).toBe(false)
  })

  test('a server that cannot be reached: TLS clients get one FATAL line saying so', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo
        server.close(() => resolve(port))
      })
    })
    const dir = path.dirname(tlsCluster.tls!.caFile)
    const proxy = await createProxy({
      upstream: `127.0.0.1:${closedPort}`,
      tls: { cert: path.join(dir, 'server.crt'), key: path.join(dir, 'server.key') },
    })
    cleanups.push(() => proxy.close())
    const error = await failure(pgTls(proxy, { ca }))
    expect(error).toEqual({
      code: '08001',
      message: `pgrig proxy ${proxy.name}: cannot reach the server at 127.0.0.1:${closedPort}: connect ECONNREFUSED 127.0.0.1:${closedPort}`,
    })
  })

  test('upstream.sslmode: verify-full checks the server against upstream.ca, require only encrypts', async () => {
    // a CA that did not sign the server's certificate (the server's own leaf certificate)
    const wrongCa = path.join(path.dirname(tlsCluster.tls!.caFile), 'server.crt')
    const verifying = await terminating({ tls: { upstream: { ca: wrongCa } } })
    const error = await failure(pgTls(verifying))
    expect(error.code).toBe('08001')
    expect(error.message).toMatch(
      /^pgrig proxy \S+: TLS to the server at 127\.0\.0\.1:\d+ failed: (unable to verify|unable to get local issuer|self-signed certificate)/,
    )
    const encrypting = await terminating({ tls: { upstream: { ca: wrongCa, sslmode: 'require' } } })
    expect(await serverSsl(await pgTls(encrypting))).toBe(true)
  })

  test('client-certificate servers: the proxy authenticates its leg with the certificate from the upstream URL', async () => {
    expect(certCluster.url).toContain('sslcert=')
    const proxy = await createProxy({ upstream: certCluster, tls: 'terminate' })
    cleanups.push(() => proxy.close())
    // the client shows the proxy no certificate at all
    const client = await pgTls(proxy, { ca }, certCluster)
    const row = (await client.query('select ssl, client_dn from pg_stat_ssl where pid = pg_backend_pid()'))
      .rows[0] as { ssl: boolean; client_dn: string }
    expect(row).toEqual({ ssl: true, client_dn: `/CN=${certCluster.user}` })
  })

  test('passthrough stays the default: toJSON has no tls field, statement faults do not see inside TLS', async () => {
    const proxy = await createProxy({ upstream: tlsCluster })
    cleanups.push(() => proxy.close())
    expect(proxy.toJSON()).not.toHaveProperty('tls')
    proxy.addStatementFault({ type: 'error', code: '40001', match: 'select 1' })
    const client = await pgTls(proxy)
    expect((await client.query('select 1 as one')).rows).toEqual([{ one: 1 }])
    expect((await terminating()).toJSON()).toMatchObject({ tls: 'terminate' })
  })
})

describe('Toxiproxy API: the optional tls field', () => {
  test('"tls": "terminate" on POST /proxies makes a terminating proxy; without it nothing changes', async () => {
    const api = await serveToxiproxyApi({ port: 0 })
    cleanups.push(() => api.close())
    const post = async (route: string, body: unknown) => {
      const response = await fetch(`${api.url}${route}`, { method: 'POST', body: JSON.stringify(body) })
      return { status: response.status, json: (await response.json()) as Record<string, unknown> }
    }
    // a postgres:// URL as upstream lets the proxy find the pgrig certificates
    const created = await post('/proxies', { name: 'pg_tls', upstream: tlsCluster.url, tls: 'terminate' })
    expect(created).toMatchObject({
      status: 201,
      json: { name: 'pg_tls', upstream: `127.0.0.1:${tlsCluster.port}`, enabled: true, tls: 'terminate' },
    })
    const plain = await post('/proxies', { name: 'pg_plain', upstream: `127.0.0.1:${tlsCluster.port}` })
    expect(plain.status).toBe(201)
    expect(Object.keys(plain.json).sort()).toEqual(['enabled', 'listen', 'name', 'toxics', 'upstream'])

    const proxy = api.proxies.get('pg_tls')!
    const client = await pgTls(proxy)
    expect(
      (await post('/proxies/pg_tls/toxics', { type: 'latency', attributes: { latency: 150 } })).status,
    ).toBe(200)
    proxy.addStatementFault({ type: 'error', code: '40001', match: 'select 5' })
    const start = performance.now()
    expect((await failure(client.query('select 5'))).code).toBe('40001')
    expect(performance.now() - start).toBeGreaterThanOrEqual(140)

    const refused = await post('/proxies', {
      name: 'pg_bad',
      upstream: `127.0.0.1:${tlsCluster.port}`,
      tls: { cert: '/nonexistent/proxy.crt', key: '/nonexistent/proxy.key' },
    })
    expect(refused).toEqual({
      status: 400,
      json: {
        status: 400,
        error:
          'proxy pg_bad: tls cert /nonexistent/proxy.crt cannot be read (ENOENT); pass the path of a PEM file or PEM text',
      },
    })
  })
})

describe('bad TLS options: one clear line', () => {
  const reject = async (options: Partial<ProxyOptions>) => {
    const error = await createProxy({ upstream: tlsCluster, ...options }).then(
      async (p) => {
        await p.close()
        return undefined
      },
      (e: unknown) => e,
    )
    expect(error).toBeInstanceOf(PgrigError)
    const { code, message } = error as PgrigError
    expect(message).not.toContain('\n')
    return { code, message }
  }

  test('messages name the file and say what to do', async () => {
    const dir = path.dirname(tlsCluster.tls!.caFile)
    const missing = await reject({ tls: { cert: '/nonexistent/proxy.crt', key: '/nonexistent/proxy.key' } })
    expect(missing.message).toMatch(
      /^proxy proxy_\d+: tls cert \/nonexistent\/proxy\.crt cannot be read \(ENOENT\); pass the path of a PEM file or PEM text$/,
    )
    const mismatched = await reject({
      tls: { cert: path.join(dir, 'server.crt'), key: path.join(dir, 'ca.key') },
    })
    expect(mismatched).toEqual({
      code: 'E_TLS_CONFIG',
      message: expect.stringMatching(
        /^proxy proxy_\d+: tls key \S+ca\.key does not belong to cert \S+server\.crt; pass the key the certificate was issued for$/,
      ),
    })
    const notPem = await reject({
      tls: { cert: path.join(dir, 'server.key'), key: path.join(dir, 'server.key') },
    })
    expect(notPem.message).toMatch(/tls cert \S+server\.key is not a PEM certificate/)
    const plain = await reject({ upstream: plainCluster, tls: 'terminate' })
    expect(plain).toEqual({
      code: 'E_TLS_CONFIG',
      message: expect.stringMatching(/needs a certificate to show clients.*pass tls: \{ cert, key \}$/),
    })
    const timeout = await reject({ tls: { handshakeTimeout: -1 } })
    expect(timeout.message).toMatch(/tls handshakeTimeout -1 is not a positive number of milliseconds$/)
    const raw = await reject({ tls: 'terminate', protocol: 'tcp' })
    expect(raw.code).toBe('E_USAGE')
  })
})
