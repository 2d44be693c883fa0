import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../../servers/start-server.js'
import { holdLock } from './locks.js'

let cluster: StartedServer
let app: pg.Client

beforeAll(async () => {
  cluster = await startServer({ name: 'chaos-locks' })
  app = new pg.Client({ connectionString: cluster.url })
  await app.connect()
  await app.query('create table accounts (id int primary key, balance int)')
  await app.query('insert into accounts values (1, 100), (2, 200)')
})
afterAll(async () => {
  await app?.end()
  await cluster?.stop()
})

async function timed<T>(work: Promise<T>): Promise<{ ms: number; result: T | { code?: string } }> {
  const started = performance.now()
  const result = await work.catch((error: { code?: string }) => error)
  return { ms: performance.now() - started, result }
}

describe('holdLock', () => {
  test('a table lock makes readers fail with 55P03 after lock_timeout, and is gone on release', async () => {
    const lock = await holdLock(cluster, { table: 'accounts' })
    await app.query("set lock_timeout = '200ms'")
    try {
      const { ms, result } = await timed(app.query('select count(*) from accounts'))
      expect(result).toMatchObject({ code: '55P03' })
      expect(ms).toBeGreaterThanOrEqual(180)
      expect(ms).toBeLessThan(10_000)
    } finally {
      await lock.release()
      await app.query('reset lock_timeout')
    }
    const { rows } = await app.query('select count(*)::int as n from accounts')
    expect(rows).toEqual([{ n: 2 }])
  })

  test('a row lock blocks writers of that row only, and shows as a Lock wait', async () => {
    await using lock = await holdLock(cluster, { table: 'accounts', row: { id: 1 } })
    expect(lock.rows).toBe(1)
    await app.query("set lock_timeout = '150ms'")
    try {
      await app.query('update accounts set balance = balance + 1 where id = 2')
      const { result } = await timed(app.query('update accounts set balance = 0 where id = 1'))
      expect(result).toMatchObject({ code: '55P03' })
    } finally {
      await app.query('reset lock_timeout')
    }
    const waiter = new pg.Client({ connectionString: cluster.url, application_name: 'waiter' })
    await waiter.connect()
    const waiting = waiter.query('update accounts set balance = 0 where id = 1')
    try {
      let blockedBy: number[] = []
      for (let i = 0; i < 50 && blockedBy.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 20))
        const { rows } = await app.query<{ blocked_by: number[]; wait: string }>(
          `select pg_blocking_pids(pid) as blocked_by, wait_event_type as wait
             from pg_stat_activity where application_name = 'waiter'`,
        )
        blockedBy = rows[0]?.wait === 'Lock' ? rows[0].blocked_by : []
      }
      expect(blockedBy).toEqual([lock.pid])
    } finally {
      await lock.release()
      await waiting
      await waiter.end()
    }
  })

  test('forMs releases by itself: a waiting writer proceeds after about that long', async () => {
    await holdLock(cluster, { table: 'accounts', row: { id: 2 }, forMs: 400 })
    const { ms, result } = await timed(app.query('update accounts set balance = 7 where id = 2'))
    expect(result).toMatchObject({ rowCount: 1 })
    expect(ms).toBeGreaterThanOrEqual(300)
    expect(ms).toBeLessThan(10_000)
  })

  test('a row that does not exist, or a wrong mode, is refused with one clear line', async () => {
    await expect(holdLock(cluster, { table: 'accounts', row: { id: 99 } })).rejects.toThrow(
      /no row of accounts matches \{"id":99\}/,
    )
    await expect(
      holdLock(cluster, { table: 'accounts', mode: 'FOR UPDATE' as 'SHARE' }),
    ).rejects.toMatchObject({ code: 'E_USAGE' })
  })
})
