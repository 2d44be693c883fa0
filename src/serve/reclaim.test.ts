import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../servers/start-server.js'
import { withClient } from '../databases/admin.js'
import { startServe, type Serving } from './serve.js'
import type { DatabaseConfig, TestDatabase } from './api-types.js'
import { privateRunRoot } from '../../test/support/run-root.js'

// Databases handed out and never given back: taken back at the cap (IntegreSQL's default), never
// from a holder still connected, and never with INTEGRESQL_TEST_DB_FORCE_RETURN.
privateRunRoot('serve-reclaim')

let pgc: StartedServer
beforeAll(async () => {
  pgc = await startServer({ name: 'serve-reclaim', quiet: true })
})
afterAll(() => pgc?.stop())

const dsn = (c: DatabaseConfig) =>
  `postgres://${encodeURIComponent(c.username)}:${encodeURIComponent(c.password)}@${c.host}:${c.port}/${c.database}`

async function serve(options: { poolMax: number; getTimeoutMs: number; forceReturn?: boolean }) {
  const api = await startServe({ server: pgc.info, port: 0, poolSize: 1, ...options })
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${api.baseUrl}/v1${path}`, {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    })
    const text = await response.text()
    return { status: response.status, text, json: text ? (JSON.parse(text) as unknown) : undefined }
  }
  const hash = `reclaim-${Date.now()}-${Math.random().toString(36).slice(2)}`
  const created = await call('POST', '/templates', { hash })
  const config = (created.json as TestDatabase).database.config
  await withClient(dsn(config), (c) =>
    c.query("create table notes (body text); insert into notes values ('seed')"),
  )
  expect((await call('PUT', `/templates/${hash}`)).status).toBe(204)
  const take = async () => {
    const got = await call('GET', `/templates/${hash}/tests`)
    expect(got.status, got.text).toBe(200)
    return got.json as TestDatabase
  }
  return { api, call, hash, take }
}

/** The clones of this run on the server right now. */
async function clones(api: Serving): Promise<string[]> {
  return withClient(pgc.superuser.url, async (c) =>
    (
      await c.query<{ datname: string }>(
        "select datname from pg_database where datname like 'pgrig\\_' || $1 || '\\_%' order by datname",
        [api.runId],
      )
    ).rows.map((r) => r.datname),
  )
}

async function used(test: TestDatabase, who: string): Promise<void> {
  await withClient(dsn(test.database.config), async (c) => {
    expect((await c.query('select body from notes')).rows).toEqual([{ body: 'seed' }])
    await c.query('insert into notes values ($1)', [who])
  })
}

describe('test databases never given back', () => {
  test('at the cap, the oldest one nobody has been connected to for 2 s is taken back and recreated; the count stays at the cap', async () => {
    const { api, call, hash, take } = await serve({ poolMax: 2, getTimeoutMs: 20_000 })
    const started = performance.now()
    try {
      const taken: TestDatabase[] = []
      let most = 0
      for (let i = 0; i < 6; i++) {
        const test = await take()
        // Fresh from the template, never a database another holder wrote to.
        await used(test, `holder ${i}`)
        taken.push(test)
        most = Math.max(most, (await clones(api)).length)
      }
      const names = taken.map((t) => t.database.config.database)
      expect(new Set(names).size).toBe(6)
      expect(most).toBeLessThanOrEqual(2)
      // Four waits for a lease to sit unconnected for 2 s.
      expect(performance.now() - started).toBeGreaterThanOrEqual(4 * 2000)
      // The first four were taken back: they are gone, and what their holders send now changes nothing.
      const left = await clones(api)
      for (const name of names.slice(0, 4)) expect(left).not.toContain(name)
      expect((await call('POST', `/templates/${hash}/tests/${taken[0]!.id}/recreate`)).status).toBe(204)
      expect((await call('POST', `/templates/${hash}/tests/${taken[1]!.id}/unlock`)).status).toBe(204)
      expect(await clones(api)).toEqual(left)
    } finally {
      await api.close()
    }
  })

  test('a holder still connected keeps its database: the asker waits, then gets the one given back', async () => {
    // Longer than a lease must go unconnected (2 s) before it is taken back.
    const { api, call, hash, take } = await serve({ poolMax: 2, getTimeoutMs: 3000 })
    const held = await Promise.all([take(), take()])
    const sessions = await Promise.all(
      held.map(async (test) => {
        const c = new pg.Client({ connectionString: dsn(test.database.config) })
        await c.connect()
        return c
      }),
    )
    try {
      const waited = await call('GET', `/templates/${hash}/tests`)
      expect(waited.status).toBe(503)
      expect(waited.text).toMatch(/became free within 3000 ms; give them back/)
      for (const c of sessions)
        expect((await c.query('select count(*)::int as n from notes')).rows).toEqual([{ n: 1 }])
      await sessions[0]!.end()
      expect((await call('POST', `/templates/${hash}/tests/${held[0]!.id}/recreate`)).status).toBe(204)
      const next = await take()
      expect(next.database.config.database).not.toBe(held[1]!.database.config.database)
      await used(next, 'after the give-back')
    } finally {
      await Promise.all(sessions.map((c) => c.end().catch(() => {})))
      await api.close()
    }
  })

  test('with forceReturn (INTEGRESQL_TEST_DB_FORCE_RETURN) nothing is taken back: the asker gets 503 after the get timeout', async () => {
    const { api, hash, call, take } = await serve({ poolMax: 1, getTimeoutMs: 3000, forceReturn: true })
    try {
      const held = await take()
      await used(held, 'forgetful holder')
      const started = performance.now()
      const waited = await call('GET', `/templates/${hash}/tests`)
      expect(waited.status).toBe(503)
      expect(performance.now() - started).toBeGreaterThanOrEqual(2900)
      expect(await clones(api)).toEqual([held.database.config.database])
    } finally {
      await api.close()
    }
  })
})
