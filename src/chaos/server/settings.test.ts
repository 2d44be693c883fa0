import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../../servers/start-server.js'
import { capResources, setSessionDefaults, setTimeouts } from './settings.js'

let cluster: StartedServer

beforeAll(async () => {
  cluster = await startServer({ name: 'chaos-settings' })
})
afterAll(() => cluster?.stop())

async function session(url = cluster.url): Promise<pg.Client & AsyncDisposable> {
  const client = new pg.Client({ connectionString: url }) as pg.Client & AsyncDisposable
  client.on('error', () => {})
  client[Symbol.asyncDispose] = () => client.end().catch(() => {})
  await client.connect()
  return client
}

async function show(name: string, url = cluster.url): Promise<string> {
  await using client = await session(url)
  const { rows } = await client.query<Record<string, string>>(`show ${name}`)
  return Object.values(rows[0]!)[0]!
}

describe('setTimeouts', () => {
  test('statement_timeout: a slow statement fails with 57014 after about that long; restored after', async () => {
    {
      await using _ = await setTimeouts(cluster, { statement_timeout: 250 })
      await using client = await session()
      const started = performance.now()
      const error = await client.query('select pg_sleep(30)').catch((e: { code?: string }) => e)
      const ms = performance.now() - started
      expect(error).toMatchObject({ code: '57014', message: expect.stringMatching(/statement timeout/) })
      expect(ms).toBeGreaterThanOrEqual(230)
      expect(ms).toBeLessThan(10_000)
    }
    expect(await show('statement_timeout')).toBe('0')
  })

  test('idle_in_transaction_session_timeout closes a session left idle in a transaction (25P03)', async () => {
    await using _ = await setTimeouts(cluster, { idle_in_transaction_session_timeout: '200ms' })
    await using client = await session()
    const closed = new Promise<{ code?: string }>((resolve) => client.once('error', resolve))
    await client.query('begin')
    const error = await Promise.race([closed, new Promise((r) => setTimeout(() => r('still open'), 3000))])
    expect(error).toMatchObject({ code: '25P03' })
    await expect(client.query('select 1')).rejects.toThrow()
  })

  test('transaction_timeout (PostgreSQL 17+) ends a session whose transaction runs too long (25P04)', async () => {
    await using _ = await setTimeouts(cluster, { transaction_timeout: 200 })
    await using client = await session()
    const closed = new Promise<{ code?: string }>((resolve) => client.once('error', resolve))
    await client.query('begin')
    const running = client.query('select pg_sleep(5)').catch((e: { code?: string }) => e)
    const first = await Promise.race([closed, running])
    expect(first).toMatchObject({ code: '25P04' })
  })

  test('scoped to a role in the database: that role gets it, the superuser does not; an earlier value comes back', async () => {
    await using client = await session(cluster.superuser.url)
    await client.query(`alter role app in database ${cluster.database} set lock_timeout = '9s'`)
    {
      await using _ = await setTimeouts(
        cluster,
        { lock_timeout: '1s' },
        { role: 'app', database: cluster.database },
      )
      expect(await show('lock_timeout')).toBe('1s')
      expect(await show('lock_timeout', cluster.superuser.url)).toBe('0')
    }
    expect(await show('lock_timeout')).toBe('9s')
    await client.query(`alter role app in database ${cluster.database} reset lock_timeout`)
  })

  test('an unknown setting fails with one line and leaves nothing behind', async () => {
    await expect(setSessionDefaults(cluster, { lock_timeout: '1s', no_such_setting: 1 })).rejects.toThrow(
      /could not set lock_timeout=1s, no_such_setting=1 .*no_such_setting/,
    )
    expect(await show('lock_timeout')).toBe('0')
  })
})

describe('capResources [resource]', () => {
  test('work_mem makes a sort spill to disk; temp_file_limit then fails it with 53400', async () => {
    const sort = 'select g from generate_series(1, 300000) g order by g desc'
    {
      await using _ = await capResources(cluster, { work_mem: '64kB' })
      await using client = await session()
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(`explain (analyze, costs off) ${sort}`)
      expect(rows.map((r) => r['QUERY PLAN']).join('\n')).toMatch(/Sort Method: external merge\s+Disk/)
    }
    {
      await using _ = await capResources(cluster, { work_mem: '64kB', temp_file_limit: '1MB' })
      await using client = await session()
      await expect(client.query(sort)).rejects.toMatchObject({
        code: '53400',
        message: expect.stringMatching(/temp_file_limit/),
      })
    }
    expect(await show('temp_file_limit')).toBe('-1')
    expect(await show('work_mem')).toBe('4MB')
  })
})
