import { afterEach, expect, test } from 'vitest'
import { databaseEnv, pointEnvAt } from './env.js'

const saved = { ...process.env }
afterEach(() => {
  for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key]
  Object.assign(process.env, saved)
})

test('a TLS URL gives DATABASE_URL, PG* and PGSSL*, decoded', () => {
  const url =
    'postgres://app:p%40ss%2Fw@localhost:5433/pgrig_abc_1?sslmode=verify-full&sslrootcert=%2Frun%2Fca.crt&sslcert=%2Frun%2Fc.crt&sslkey=%2Frun%2Fc.key'
  expect(databaseEnv(url)).toEqual({
    DATABASE_URL: url,
    PGHOST: 'localhost',
    PGPORT: '5433',
    PGUSER: 'app',
    PGPASSWORD: 'p@ss/w',
    PGDATABASE: 'pgrig_abc_1',
    PGSSLMODE: 'verify-full',
    PGSSLROOTCERT: '/run/ca.crt',
    PGSSLCERT: '/run/c.crt',
    PGSSLKEY: '/run/c.key',
  })
})

test('a unix socket in ?host= and an IPv6 host', () => {
  expect(databaseEnv('postgres://app:x@/db?host=/tmp/sock&port=5499')).toMatchObject({
    PGHOST: '/tmp/sock',
    PGPORT: '5499',
  })
  expect(databaseEnv('postgres://app:x@[::1]/db')).toMatchObject({ PGHOST: '::1', PGPORT: '5432' })
  expect(databaseEnv('postgres://app@/db')).toMatchObject({
    PGHOST: 'localhost',
    PGUSER: 'app',
    PGDATABASE: 'db',
  })
  expect(databaseEnv('postgresql:///db')).toMatchObject({ PGHOST: 'localhost', PGDATABASE: 'db' })
  expect(databaseEnv('postgres:///db?host=/run/pg')).toMatchObject({ PGHOST: '/run/pg', PGDATABASE: 'db' })
})

test('pointEnvAt deletes what a plain URL does not set (a shell PGSSLMODE) and puts everything back after', () => {
  process.env.DATABASE_URL = 'postgres://dev:dev@devhost:5432/dev'
  process.env.PGSSLMODE = 'require'
  process.env.PGSSLKEY = '/home/dev/key'
  delete process.env.PGHOST
  const restore = pointEnvAt('postgres://app:pw@127.0.0.1:6000/pgrig_x_1')
  expect(process.env.DATABASE_URL).toBe('postgres://app:pw@127.0.0.1:6000/pgrig_x_1')
  expect(process.env.PGHOST).toBe('127.0.0.1')
  expect(process.env.PGPASSWORD).toBe('pw')
  expect('PGSSLMODE' in process.env).toBe(false)
  expect('PGSSLKEY' in process.env).toBe(false)
  restore()
  expect(process.env.DATABASE_URL).toBe('postgres://dev:dev@devhost:5432/dev')
  expect(process.env.PGSSLMODE).toBe('require')
  expect(process.env.PGSSLKEY).toBe('/home/dev/key')
  expect('PGHOST' in process.env).toBe(false)
})
