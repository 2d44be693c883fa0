import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startServer, type StartedServer } from './start-server.js'
import { waitUntil } from './process-alive.js'

async function selectOne(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query<{ one: number }>('select 1 as one')).rows[0]!.one
  } finally {
    await client.end()
  }
}

// A tmpfs root of this file's own, so the template and its spares are built and watched here only.
const base = fs.mkdtempSync(path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'pgrig-spares-'))
fs.chmodSync(base, 0o755)
const previous = { tmpfs: process.env.PGRIG_TMPFS_DIR, spares: process.env.PGRIG_SPARE_DATADIRS }
const uid = process.getuid?.() ?? 0
const templatesDir = path.join(base, `pgrig-${uid}`, 'templates')
const started: StartedServer[] = []

const sparesDir = () => fs.readdirSync(templatesDir).find((name) => name.endsWith('.spares'))
const ready = () => {
  const dir = sparesDir()
  return dir ? fs.readdirSync(path.join(templatesDir, dir)).filter((n) => !n.startsWith('.')) : []
}

beforeAll(() => {
  process.env.PGRIG_TMPFS_DIR = base
  delete process.env.PGRIG_SPARE_DATADIRS
})
afterAll(async () => {
  await Promise.all(started.map((c) => c.stop()))
  // Background copies may still be writing; wait for them before removing their folder.
  await waitUntil(() => ready().length >= 2, 20_000)
  fs.rmSync(base, { recursive: true, force: true })
  for (const [key, value] of [
    ['PGRIG_TMPFS_DIR', previous.tmpfs],
    ['PGRIG_SPARE_DATADIRS', previous.spares],
  ] as const) {
    if (value === undefined) delete process.env[key]
    else process.env[key] = value
  }
})

describe('spare data dirs on tmpfs', () => {
  test('the template keeps only the WAL segments a clean start reads', async () => {
    started.push(await startServer({ name: 'spare-first', quiet: true }))
    // The tmpfs copy of the cached template is made in the background: on a busy machine it may still be on its way.
    const copied = () =>
      (fs.existsSync(templatesDir) ? fs.readdirSync(templatesDir) : []).find(
        (n) => /^\d[^/]*-[0-9a-f]{16}$/.test(n) && fs.existsSync(path.join(templatesDir, n, 'PG_VERSION')),
      )
    expect(await waitUntil(() => copied() !== undefined, 20_000)).toBe(true)
    const template = copied()!
    const segments = fs
      .readdirSync(path.join(templatesDir, template, 'pg_wal'))
      .filter((name) => /^[0-9A-F]{24}$/.test(name))
    expect(segments.length).toBeGreaterThan(0)
    expect(segments.length).toBeLessThanOrEqual(2)
  })

  test('a start takes a ready spare, which a background copy then replaces', async () => {
    // The first start found the template in the disk cache and copied it to tmpfs in the background;
    // spares are made from the tmpfs copy, by the first start that uses it.
    const onTmpfs = () =>
      fs.readdirSync(templatesDir).some((n) => fs.existsSync(path.join(templatesDir, n, 'PG_VERSION')))
    expect(await waitUntil(onTmpfs, 20_000)).toBe(true)
    started.push(await startServer({ name: 'spare-prime', quiet: true }))
    expect(await waitUntil(() => ready().length === 2, 20_000)).toBe(true)
    const before = ready()
    const cluster = await startServer({ name: 'spare-second', quiet: true })
    started.push(cluster)
    expect(await selectOne(cluster.url)).toBe(1)
    const after = ready()
    // One of the two spares became this server's data dir.
    expect(after.filter((name) => before.includes(name))).toHaveLength(1)
    expect(fs.existsSync(path.join(cluster.dataDir, 'PG_VERSION'))).toBe(true)
    expect(await waitUntil(() => ready().length === 2, 20_000)).toBe(true)
  })

  test('PGRIG_SPARE_DATADIRS=0 copies the template and makes no spares', async () => {
    process.env.PGRIG_SPARE_DATADIRS = '0'
    try {
      fs.rmSync(path.join(templatesDir, sparesDir()!), { recursive: true, force: true })
      const cluster = await startServer({ name: 'spare-off', quiet: true })
      started.push(cluster)
      expect(await selectOne(cluster.url)).toBe(1)
      expect(sparesDir()).toBeUndefined()
    } finally {
      delete process.env.PGRIG_SPARE_DATADIRS
    }
  })

  test('a password PostgreSQL must normalise itself (non-ASCII) still logs in', async () => {
    const cluster = await startServer({ name: 'spare-pw', password: 'pässwörd ünïcode', quiet: true })
    started.push(cluster)
    expect(await selectOne(cluster.url)).toBe(1)
  })
})
