import fs from 'node:fs'
import pg from 'pg'
import { afterEach, describe, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../../servers/start-server.js'
import type { StartServerOptions } from '../../servers/start-server.js'
import { corrupt } from './corrupt.js'
import { verify } from './verify.js'

const started: StartedServer[] = []
afterEach(async () => {
  await Promise.all(started.splice(0).map((cluster) => cluster.stop()))
})

/** A server with a 2,000-row table and its primary key, spread over several pages. */
async function seeded(options: StartServerOptions = {}): Promise<StartedServer> {
  const cluster = await startServer({ name: 'chaos-corrupt', ...options })
  started.push(cluster)
  const client = new pg.Client({ connectionString: cluster.url })
  await client.connect()
  // Autovacuum would read (and could rewrite) the pages these tests damage at a moment of its choosing.
  await client.query(`create table orders (id int primary key, note text) with (autovacuum_enabled = off)`)
  await client.query(`insert into orders select g, repeat('x', 60) from generate_series(1, 2000) g`)
  await client.end()
  return cluster
}

async function count(cluster: StartedServer): Promise<unknown> {
  const client = new pg.Client({ connectionString: cluster.url })
  await client.connect()
  try {
    return (await client.query('select count(*)::int as n from orders')).rows[0]
  } catch (error) {
    return error
  } finally {
    await client.end()
  }
}

describe('verify', () => {
  test('a clean database yields no findings, and every page checksum pgrig computes matches', async () => {
    const cluster = await seeded()
    const client0 = new pg.Client({ connectionString: cluster.url })
    await client0.connect()
    const { rows: on } = await client0.query('show data_checksums')
    await client0.end()
    expect(on).toEqual([{ data_checksums: 'on' }])
    expect(await verify(cluster)).toEqual([])
    expect(await verify(cluster, { includeCatalog: true, parent: true })).toEqual([])
    // amcheck is removed again when verify installed it.
    const client = new pg.Client({ connectionString: cluster.superuser.url })
    await client.connect()
    const { rows } = await client.query(`select 1 from pg_extension where extname = 'amcheck'`)
    await client.end()
    expect(rows).toEqual([])
    await expect(verify(cluster.url)).rejects.toMatchObject({
      code: 'E_FAULT_FAILED',
      message: expect.stringMatching(/verify needs a superuser connection/),
    })
  })
})

describe('corrupt then verify [corruption]', () => {
  test('a heap page with flipped bytes on a running server is found, naming the table and block', async () => {
    const cluster = await seeded()
    const report = await corrupt({ cluster, table: 'orders', block: 2, how: 'flip-bytes' })
    expect(report).toMatchObject({ relation: 'orders', block: 2, how: 'flip-bytes' })
    expect(report.evicted).toBe('pg_buffercache_evict_relation')
    expect(fs.existsSync(report.file)).toBe(true)

    const findings = await verify(cluster)
    expect(findings).toContainEqual(
      expect.objectContaining({
        check: 'read',
        relation: 'public.orders',
        block: 2,
        message: expect.stringMatching(/invalid page in block 2/),
      }),
    )
    expect(findings).toContainEqual(
      expect.objectContaining({ check: 'checksum', relation: 'public.orders', block: 2 }),
    )
    // What the application sees: the table cannot be read past the damaged page.
    expect(await count(cluster)).toMatchObject({ code: 'XX001' })
  })

  test('a B-tree page with a zeroed page is found by amcheck, naming the index', async () => {
    const cluster = await seeded()
    const report = await corrupt({ cluster, index: 'orders_pkey', how: 'zero-page' })
    expect(report).toMatchObject({ relation: 'orders_pkey', block: 1, byteLength: 8192 })
    const findings = await verify(cluster, { checksums: false })
    expect(findings).toEqual([
      expect.objectContaining({
        check: 'btree',
        relation: 'public.orders_pkey',
        block: 1,
        message: expect.stringMatching(/unexpected zero page at block 1/),
      }),
    ])
  })

  test('a damaged page header written while the server is stopped is found after the start', async () => {
    const cluster = await seeded()
    const report = await corrupt({ cluster, index: 'orders_pkey', how: 'page-header', server: 'stopped' })
    expect(report.evicted).toBe('stopped')
    const findings = await verify(cluster)
    expect(
      findings.filter((f) => f.relation === 'public.orders_pkey').map((f) => [f.check, f.block]),
    ).toEqual([
      ['read', 1],
      ['checksum', 1],
    ])
  })

  test('without data checksums, amcheck alone finds a damaged heap tuple', async () => {
    const cluster = await seeded({ dataChecksums: false })
    await corrupt({ cluster, table: 'orders', how: 'flip-bytes' })
    const findings = await verify(cluster)
    expect(findings.length).toBeGreaterThan(0)
    expect(findings.every((f) => f.check !== 'checksum')).toBe(true)
    expect(findings).toContainEqual(
      expect.objectContaining({ check: 'heap', relation: 'public.orders', block: 0 }),
    )
  })

  test.skipIf(!fs.existsSync('/usr/lib/postgresql/15/bin/postgres'))(
    'PostgreSQL 15 (no pg_buffercache_evict): the page is evicted by a restart, and amcheck still finds it',
    async () => {
      const cluster = await seeded({ engine: 'system', pg: 15 })
      const report = await corrupt({ cluster, table: 'orders', block: 1, how: 'page-header' })
      expect(report.evicted).toBe('restart')
      const findings = await verify(cluster)
      expect(findings).toContainEqual(
        expect.objectContaining({ check: 'read', relation: 'public.orders', block: 1 }),
      )
      expect(findings).toContainEqual(
        expect.objectContaining({ check: 'checksum', relation: 'public.orders', block: 1 }),
      )
    },
  )

  test('a name that is not a table, or a block past the end, is refused with one line', async () => {
    const cluster = await seeded()
    await expect(corrupt({ cluster, table: 'nope', how: 'zero-page' })).rejects.toMatchObject({
      code: 'E_CORRUPT_TARGET',
      message: expect.stringMatching(/table nope was not found/),
    })
    await expect(corrupt({ cluster, table: 'orders', block: 999, how: 'zero-page' })).rejects.toThrow(
      /orders has \d+ block\(s\), so block 999 does not exist/,
    )
  })
})
