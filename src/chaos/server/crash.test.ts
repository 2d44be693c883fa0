import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../../servers/start-server.js'
import { isAlive } from '../../servers/process-alive.js'
import { crashServer, restartServer } from './crash.js'

let cluster: StartedServer

beforeAll(async () => {
  cluster = await startServer({ name: 'chaos-crash' })
})
afterAll(() => cluster?.stop())

async function rows(sql: string): Promise<unknown[]> {
  const client = new pg.Client({ connectionString: cluster.url })
  await client.connect()
  try {
    return (await client.query(sql)).rows
  } finally {
    await client.end()
  }
}

describe('crashServer / restartServer [recovery]', () => {
  test('SIGKILL forces crash recovery, proven from the log, and committed rows survive', async () => {
    const writer = new pg.Client({ connectionString: cluster.url })
    writer.on('error', () => {})
    await writer.connect()
    await writer.query('create table ledger (id int primary key, amount int)')
    // No checkpoint: the rows live only in WAL, so recovery has to replay them.
    await writer.query('set synchronous_commit = on')
    await writer.query('insert into ledger select g, g * 10 from generate_series(1, 100) g')
    const before = cluster.pid

    const report = await crashServer(cluster)

    expect(isAlive(before)).toBe(false)
    expect(report.previousPid).toBe(before)
    expect(report.pid).toBe(cluster.pid)
    expect(report.recoveryLog.join('\n')).toMatch(/not properly shut down; automatic recovery in progress/)
    expect(report.recoveryLog.join('\n')).toMatch(/redo done at/)
    expect(report.replayedWal).toBe(true)
    await expect(writer.query('select 1')).rejects.toThrow()
    expect(await rows('select count(*)::int as n, sum(amount)::int as total from ledger')).toEqual([
      { n: 100, total: 50500 },
    ])
  })

  test('restart ends open sessions with 57P01; new sessions work and see the data', async () => {
    const open = new pg.Client({ connectionString: cluster.url })
    let seen: { code?: string } | undefined
    open.on('error', (error) => (seen = error as { code?: string }))
    await open.connect()
    const running = open.query('select pg_sleep(30)').catch((e: { code?: string }) => e)
    await new Promise((r) => setTimeout(r, 100))

    const report = await restartServer(cluster)

    expect(report.pid).not.toBe(report.previousPid)
    expect(((await running) as { code?: string }).code ?? seen?.code).toBe('57P01')
    expect(report.log.join('\n')).toMatch(/received fast shutdown request/)
    expect(report.log.join('\n')).not.toMatch(/automatic recovery in progress/)
    expect(await rows('select count(*)::int as n from ledger')).toEqual([{ n: 100 }])
  })
})
