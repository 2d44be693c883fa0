import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { resolveServer } from '../config/resolve.js'
import { startServer, type StartedServer } from './start-server.js'
import { renderHba } from './server-config.js'
import { privateRunRoot } from '../../test/support/run-root.js'

privateRunRoot('hba')

/** Logs in and returns the role and the server's idea of how it authenticated; or the error's SQLSTATE. */
async function login(url: string): Promise<{ user: string } | { code: string }> {
  const client = new pg.Client({ connectionString: url })
  client.on('error', () => {})
  try {
    await client.connect()
    const { rows } = await client.query<{ user: string }>('select current_user as user')
    return rows[0]!
  } catch (error) {
    return { code: (error as { code?: string }).code ?? String(error) }
  } finally {
    await client.end().catch(() => {})
  }
}

function as(server: StartedServer, user: string, password?: string): string {
  const url = new URL(server.url)
  url.username = user
  url.password = password ?? ''
  return url.toString()
}

describe('per-role pg_hba rules (postgres.js-style suites: trust for some roles, md5 for one, scram for another)', () => {
  let server: StartedServer
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-hba-'))
  beforeAll(async () => {
    fs.writeFileSync(
      path.join(dir, 'roles.sql'),
      [
        // A real md5 verifier, so the md5 line runs the md5 exchange (not SCRAM through it).
        "set password_encryption = 'md5';",
        "create role md5user login password 'md5-secret';",
        "set password_encryption = 'scram-sha-256';",
        "create role scramuser login password 'scram-secret';",
        'create role trustuser login;',
        'grant connect on database app to md5user, scramuser, trustuser;',
      ].join('\n'),
    )
    server = await startServer({
      name: 'hba',
      quiet: true,
      initSql: path.join(dir, 'roles.sql'),
      initSqlAs: 'superuser',
      hba: [
        { user: 'trustuser', method: 'trust' },
        { user: 'md5user', method: 'md5' },
        { user: 'scramuser', database: 'app', method: 'scram-sha-256' },
      ],
    })
  })
  afterAll(async () => {
    await server?.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  test('a wrong md5 password fails with 28P01 for that role, while another role logs in by trust', async () => {
    expect(await login(as(server, 'md5user', 'not-it'))).toEqual({ code: '28P01' })
    expect(await login(as(server, 'md5user', 'md5-secret'))).toEqual({ user: 'md5user' })
    expect(await login(as(server, 'trustuser'))).toEqual({ user: 'trustuser' })
    expect(await login(as(server, 'scramuser', 'not-it'))).toEqual({ code: '28P01' })
    expect(await login(as(server, 'scramuser', 'scram-secret'))).toEqual({ user: 'scramuser' })
    // The app user and the superuser keep the profile's SCRAM.
    expect(await login(as(server, 'app', 'not-it'))).toEqual({ code: '28P01' })
    expect(await login(server.url)).toEqual({ user: 'app' })
    expect(await login(server.superuser.url)).toEqual({ user: 'postgres' })
    const methods = fs.readFileSync(path.join(server.dataDir, 'pg_hba.conf'), 'utf8')
    expect(methods.indexOf('host all md5user 127.0.0.1/32 md5')).toBeGreaterThan(0)
    expect(methods.indexOf('host all md5user 127.0.0.1/32 md5')).toBeLessThan(
      methods.indexOf('local all all trust'),
    )
  })

  test('synchronous_commit is on (logical replication and crash() see every commit at once)', async () => {
    const client = new pg.Client({ connectionString: server.superuser.url })
    await client.connect()
    try {
      expect((await client.query('show synchronous_commit')).rows).toEqual([{ synchronous_commit: 'on' }])
    } finally {
      await client.end()
    }
  })
})

describe('hostile or impossible rules are refused in one line before anything starts', () => {
  const refused = (hba: unknown, options: Record<string, unknown> = {}) => {
    try {
      resolveServer({ name: 'h', hba, ...options } as Parameters<typeof resolveServer>[0])
    } catch (error) {
      const message = (error as Error).message
      expect(message.split('\n')).toHaveLength(1)
      return `${(error as { code?: string }).code}: ${message}`
    }
    throw new Error('accepted')
  }
  test.each([
    [
      [{ user: 'app', address: '0.0.0.0/0', method: 'md5' }],
      /hba\[0\]: address "0\.0\.0\.0\/0" is not a loopback address/,
    ],
    [[{ user: 'app', address: '192.168.1.0/24', method: 'md5' }], /not a loopback address/],
    [[{ user: 'app', address: '127.0.0.0/4', method: 'md5' }], /not a loopback address/],
    [[{ method: 'trust' }], /trust over TCP for every role/],
    [[{ user: 'x,postgres', method: 'trust' }], /trust over TCP for the superuser postgres/],
    [[{ user: '+admins', method: 'trust' }], /trust over TCP for group \+admins/],
    [[{ user: 'app', method: 'ldap' }], /hba\.0\.method: expected a method a test server can honour/],
    [[{ user: 'app\nhost all all 0.0.0.0/0 trust', method: 'md5' }], /is not a user name/],
    [[{ user: 'app', database: 'app all', method: 'md5' }], /is not a database name/],
    [[{ user: '"app"', method: 'md5' }], /is not a user name/],
    [[{ database: '@/etc/passwd', method: 'md5' }], /is not a database name/],
    [[{ user: 'app', method: 'cert' }], /method cert works on TLS connections only/],
    [[{ type: 'hostssl', user: 'app', method: 'md5' }], /this server's tls is off/],
    [[{ type: 'local', user: 'app', address: '127.0.0.1', method: 'md5' }], /takes no address/],
    [[{ user: 'app', method: 'peer' }], /peer works on the unix socket only/],
  ])('%j', (hba, message) => {
    expect(refused(hba)).toMatch(/^E_CONFIG_INVALID: /)
    expect(refused(hba)).toMatch(message)
  })
  test('a rule letting plain TCP into a TLS-only server is refused; the same in hostssl is kept, with the client-certificate option', () => {
    expect(refused([{ type: 'host', user: 'app', method: 'md5' }], { profile: 'client-cert' })).toMatch(
      /would let plain TCP in, but this server takes TLS only/,
    )
    const spec = resolveServer({ name: 'h', profile: 'client-cert', hba: [{ user: 'other', method: 'md5' }] })
    expect(renderHba(spec)).toContain('hostssl all other 127.0.0.1/32 md5 clientcert=verify-ca\n')
    expect(renderHba(spec)).toContain('hostssl all other ::1/128 md5 clientcert=verify-ca\n')
  })
  test('--setting hba_file stays refused, pointing at the hba key', () => {
    expect(() => resolveServer({ settings: { hba_file: '/tmp/x' } })).toThrow(/give per-role rules as hba:/)
  })
})
