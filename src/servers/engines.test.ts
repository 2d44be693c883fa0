import fs from 'node:fs'
import pg from 'pg'
import { describe, expect, test } from 'vitest'
import { findSystemEngines } from '../engine/system.js'
import { startServer } from './start-server.js'

async function serverVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  const { rows } = await client.query('show server_version')
  await client.end()
  return rows[0].server_version
}

describe('engines side by side', () => {
  test('embedded 15 (installed into the cache on demand) next to the default 18', async () => {
    await using older = await startServer({ name: 'eng-15', pg: 15 })
    await using newest = await startServer({ name: 'eng-18' })
    expect(await serverVersion(older.url)).toMatch(/^15\./)
    expect(await serverVersion(newest.url)).toMatch(/^18\./)
  })

  const debian15 = findSystemEngines().find((e) => e.major === 15)
  test.skipIf(!debian15 && !process.env.CI)(
    'system engine: Debian PostgreSQL 15 with its extensions',
    async () => {
      expect(debian15).toBeDefined()
      await using system = await startServer({ name: 'eng-system', engine: 'system', pg: 15 })
      expect(await serverVersion(system.url)).toMatch(/^15\./)
      const client = new pg.Client({ connectionString: system.superuser.url })
      await client.connect()
      // pg_trgm ships with Debian's postgresql-15 (contrib).
      await client.query('create extension pg_trgm')
      const { rows } = await client.query("select similarity('pgrig', 'pgrigs') > 0.5 as close")
      await client.end()
      expect(rows).toEqual([{ close: true }])
      expect(fs.existsSync(system.dataDir)).toBe(true)
    },
  )
})
