import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import tls from 'node:tls'
import { promisify } from 'node:util'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { resolveServers } from '../config/resolve.js'
import { findPsql } from '../engine/system.js'
import { startServers, type StartedServer } from './start-server.js'

const exec = promisify(execFile)

async function selectOne(config: pg.ClientConfig | string): Promise<number> {
  const client = new pg.Client(typeof config === 'string' ? { connectionString: config } : config)
  client.on('error', () => {})
  await client.connect()
  try {
    return (await client.query('select 1 as one')).rows[0].one as number
  } finally {
    await client.end()
  }
}

describe('the classic trio: plain / tls / client-cert from one config, sharing init SQL and a CA', () => {
  let plain: StartedServer, tlsOn: StartedServer, clientCert: StartedServer
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-trio-'))

  beforeAll(async () => {
    fs.writeFileSync(
      path.join(dir, 'seed.sql'),
      'create table seeded (v int);\ninsert into seeded values (42);\n',
    )
    const specs = resolveServers(
      {
        initSql: 'seed.sql',
        servers: { plain: { profile: 'plain' }, tls: { profile: 'tls' }, cert: { profile: 'client-cert' } },
      },
      {},
      dir,
    )
    ;[plain, tlsOn, clientCert] = (await startServers(specs)) as [StartedServer, StartedServer, StartedServer]
  })
  afterAll(async () => {
    await Promise.all([plain, tlsOn, clientCert].map((c) => c?.stop()))
    fs.rmSync(dir, { recursive: true, force: true })
  })

  test('each server was seeded by the same init SQL, and the app user can use what it created', async () => {
    for (const server of [plain, tlsOn, clientCert]) {
      const client = new pg.Client({ connectionString: server.url })
      await client.connect()
      expect((await client.query('select v from seeded')).rows).toEqual([{ v: 42 }])
      await client.end()
    }
  })

  test('plain: no TLS offered', async () => {
    expect(plain.tls).toBeNull()
    expect(plain.url).toMatch(/^postgresql:\/\/app:[^@]+@127\.0\.0\.1:\d+\/app\?sslmode=disable$/)
    expect(await selectOne(plain.url)).toBe(1)
    await expect(
      // The URL says sslmode=disable (for lib/pq, whose default is require); without it, TLS is asked for.
      selectOne({ connectionString: plain.url.split('?')[0], ssl: { rejectUnauthorized: false } }),
    ).rejects.toThrow(/does not support SSL/)
  })

  test('tls: verify-full works, plain connections are still accepted', async () => {
    expect(tlsOn.url).toContain('sslmode=verify-full')
    expect(await selectOne(tlsOn.url)).toBe(1)
    const plainUrl = tlsOn.url.split('?')[0]!
    expect(await selectOne(plainUrl)).toBe(1)
  })

  test('client-cert: refused without a certificate, accepted with one', async () => {
    const { caFile, certFile, keyFile } = clientCert.tls!
    expect(await selectOne(clientCert.url)).toBe(1)
    const base = {
      host: '127.0.0.1',
      port: clientCert.port,
      user: 'app',
      password: clientCert.password,
      database: 'app',
    }
    await expect(
      selectOne({ ...base, ssl: { ca: fs.readFileSync(caFile), servername: 'localhost' } }),
    ).rejects.toThrow(/certificate|connection requires a valid client certificate/i)
    await expect(selectOne(base)).rejects.toThrow(/no encryption|rejects|pg_hba/i)
    expect(
      await selectOne({
        ...base,
        ssl: {
          ca: fs.readFileSync(caFile),
          cert: fs.readFileSync(certFile),
          key: fs.readFileSync(keyFile),
          servername: 'localhost',
        },
      }),
    ).toBe(1)
  })

  test('one CA for the whole run', () => {
    expect(tlsOn.tls!.caFile).toBe(clientCert.tls!.caFile)
  })

  const psql = findPsql()
  test.skipIf(!psql)(
    'psql connects to every profile, verify-full included, and is refused without a client cert',
    async () => {
      for (const server of [plain, tlsOn, clientCert]) {
        const { stdout } = await exec(psql!, ['-X', '-At', '-c', 'select 1', server.url])
        expect(stdout.trim()).toBe('1')
      }
      const url = new URL(clientCert.url)
      url.searchParams.delete('sslcert')
      url.searchParams.delete('sslkey')
      await expect(
        exec(psql!, ['-X', '-At', '-c', 'select 1', url.toString()], { env: { ...process.env, HOME: dir } }),
      ).rejects.toMatchObject({ stderr: expect.stringMatching(/certificate/i) })
    },
  )

  test('PostgreSQL 17+ direct TLS negotiation (ALPN "postgresql") is accepted', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = tls.connect({
        host: '127.0.0.1',
        port: tlsOn.port,
        servername: 'localhost',
        ca: fs.readFileSync(tlsOn.tls!.caFile),
        ALPNProtocols: ['postgresql'],
      })
      socket.on('error', reject)
      socket.on('secureConnect', () => {
        // A v3 startup message; the server answers with an authentication request ('R').
        const params = Buffer.from('user\0app\0database\0app\0\0')
        const header = Buffer.alloc(8)
        header.writeInt32BE(8 + params.length, 0)
        header.writeInt32BE(196608, 4)
        socket.write(Buffer.concat([header, params]))
      })
      socket.once('data', (data) => {
        resolve(`${socket.alpnProtocol}:${String.fromCharCode(data[0]!)}`)
        socket.destroy()
      })
    })
    expect(reply).toBe('postgresql:R')
  })
})

describe('other auth methods', () => {
  test('auth cert logs in with the client certificate alone; md5 stores md5 passwords', async () => {
    const [cert, md5] = await startServers(
      resolveServers({ servers: { certauth: { tls: 'required', auth: 'cert' }, md5: { auth: 'md5' } } }),
    )
    try {
      const url = new URL(cert!.url)
      url.password = ''
      expect(await selectOne(url.toString())).toBe(1)
      const client = new pg.Client({ connectionString: md5!.superuser.url })
      await client.connect()
      const { rows } = await client.query(
        "select left(rolpassword, 3) as p from pg_authid where rolname = 'app'",
      )
      await client.end()
      expect(rows).toEqual([{ p: 'md5' }])
      expect(await selectOne(md5!.url)).toBe(1)
    } finally {
      await Promise.all([cert?.stop(), md5?.stop()])
    }
  })
})
