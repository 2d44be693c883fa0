import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../../servers/start-server.js'
import { terminateBackends } from './terminate.js'

let cluster: StartedServer
const clients: pg.Client[] = []

async function connect(applicationName: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: cluster.url, application_name: applicationName })
  client.on('error', () => {})
  clients.push(client)
  await client.connect()
  return client
}

beforeAll(async () => {
  cluster = await startServer({ name: 'chaos-terminate' })
})
afterAll(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => {})))
  await cluster?.stop()
})

describe('terminateBackends', () => {
  test('ends the sessions of one application name; their connection is gone, others carry on', async () => {
    const victim = await connect('victim')
    const bystander = await connect('bystander')
    const ended = await terminateBackends(cluster, { applicationName: 'victim' })
    expect(ended.map((b) => b.applicationName)).toEqual(['victim'])
    // An idle client learns it only when it next uses the connection.
    await expect(victim.query('select 1')).rejects.toThrow(/connection error|terminated/)
    const { rows } = await bystander.query<{ one: number }>('select 1 as one')
    expect(rows).toEqual([{ one: 1 }])
  })

  test('a running statement matched by pattern is cut off with admin_shutdown', async () => {
    const sleeper = await connect('sleeper')
    const running = sleeper.query('select pg_sleep(30) /* long-report */').catch((e: unknown) => e)
    let ended: Awaited<ReturnType<typeof terminateBackends>> = []
    for (let i = 0; i < 50 && ended.length === 0; i++) {
      ended = await terminateBackends(cluster, { query: /long-report/, user: 'app' })
      if (ended.length === 0) await new Promise((r) => setTimeout(r, 20))
    }
    expect(ended).toHaveLength(1)
    const error = (await running) as { code?: string; message: string }
    expect(error.code).toBe('57P01')
    expect(error.message).toMatch(/terminating connection due to administrator command/)
  })

  test('by pid, and nothing matched ends nothing', async () => {
    const client = await connect('by-pid')
    const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid')
    expect(await terminateBackends(cluster, { applicationName: 'no-such-app' })).toEqual([])
    const ended = await terminateBackends(cluster, { pid: rows[0]!.pid })
    expect(ended.map((b) => b.pid)).toEqual([rows[0]!.pid])
  })

  test('an empty match is refused instead of ending every session', async () => {
    await expect(terminateBackends(cluster, {})).rejects.toMatchObject({ code: 'E_USAGE' })
  })
})
