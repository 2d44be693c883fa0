import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../../servers/start-server.js'
import { exhaustConnections } from './connections.js'

let cluster: StartedServer

beforeAll(async () => {
  // A small limit keeps the test quick; the helper needs no number, it fills whatever is left.
  cluster = await startServer({ name: 'chaos-conns', settings: { max_connections: 12 } })
})
afterAll(() => cluster?.stop())

async function tryConnect(url: string): Promise<{ code?: string; message: string } | 'ok'> {
  const client = new pg.Client({ connectionString: url })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.end()
    return 'ok'
  } catch (error) {
    return error as { code?: string; message: string }
  }
}

describe('exhaustConnections [resource]', () => {
  test('app clients get 53300 while slots are held; the superuser still gets in; release frees them', async () => {
    {
      await using held = await exhaustConnections(cluster)
      // 12 slots minus the 3 superuser-reserved ones.
      expect(held.held).toBe(9)
      const refused = await tryConnect(cluster.url)
      expect(refused).toMatchObject({ code: '53300' })
      expect((refused as { message: string }).message).toMatch(/reserved|too many clients/)
      expect(await tryConnect(cluster.superuser.url)).toBe('ok')
    }
    expect(await tryConnect(cluster.url)).toBe('ok')
  })

  test('holding as the superuser fills every slot, so even the superuser is refused', async () => {
    const held = await exhaustConnections(cluster, { url: cluster.superuser.url })
    try {
      expect(held.held).toBe(12)
      expect(await tryConnect(cluster.superuser.url)).toMatchObject({ code: '53300' })
    } finally {
      await held.release()
      await held.release()
    }
    expect(held.held).toBe(0)
    expect(await tryConnect(cluster.superuser.url)).toBe('ok')
  })
})
