import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../servers/start-server.js'
import { withClient } from '../databases/admin.js'
import { dropLeftovers } from '../databases/leftovers.js'
import { ownerMarker } from '../databases/guard.js'
import { holdRunLock } from '../databases/run-lock.js'
import { startServe, type Serving } from './serve.js'
import { privateRunRoot } from '../../test/support/run-root.js'

privateRunRoot('serve')

let pgc: StartedServer
let api: Serving

beforeAll(async () => {
  pgc = await startServer({ name: 'serve-test', quiet: true })
  api = await startServe({ server: pgc.info, port: 0, poolSize: 2, poolMax: 8 })
})
afterAll(async () => {
  await api?.close()
  await pgc?.stop()
})

interface Config {
  host: string
  port: number
  username: string
  password: string
  database: string
  additionalParams?: Record<string, string>
}

async function call(method: string, path: string, body?: unknown) {
  const response = await fetch(`${api.baseUrl}/v1${path}`, {
    method,
    headers: { 'Content-Type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  })
  const text = await response.text()
  return {
    status: response.status,
    type: response.headers.get('content-type'),
    text,
    json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined,
  }
}

const dsn = (c: Config) =>
  `postgres://${encodeURIComponent(c.username)}:${encodeURIComponent(c.password)}@${c.host}:${c.port}/${c.database}`

async function query<T = Record<string, unknown>>(config: Config, sql: string): Promise<T[]> {
  return withClient(dsn(config), async (client) => (await client.query(sql)).rows as T[])
}

/** A template with one table and one seeded row, finalized. */
async function migratedTemplate(hash: string): Promise<void> {
  const created = await call('POST', '/templates', { hash })
  expect(created.status, created.text).toBe(200)
  const config = (created.json!.database as { config: Config }).config
  await query(
    config,
    "create table notes (id serial primary key, body text); insert into notes (body) values ('seed')",
  )
  expect((await call('PUT', `/templates/${hash}`)).status).toBe(204)
}

describe('the IntegreSQL API', () => {
  test('errors are {"message"} with IntegreSQL status codes; JSON is compact with charset UTF-8', async () => {
    const noHash = await call('POST', '/templates', {})
    expect(noHash).toMatchObject({ status: 400, type: 'application/json; charset=UTF-8' })
    expect(noHash.text).toBe('{"message":"hash is required"}\n')
    expect((await call('GET', '/templates/nope/tests')).json).toEqual({ message: 'template not found' })
    expect((await call('DELETE', '/templates/nope')).status).toBe(404)
    expect((await call('POST', '/templates/nope/tests/x/recreate')).status).toBe(400)

    const hash = `shape-${Date.now()}`
    const created = await call('POST', '/templates', { hash })
    expect(Object.keys(created.json!)).toEqual(['database'])
    const database = created.json!.database as { templateHash: string; config: Config }
    expect(database.templateHash).toBe(hash)
    expect(Object.keys(database.config)).toEqual([
      'host',
      'port',
      'username',
      'password',
      'database',
      'additionalParams',
    ])
    // IntegreSQL's Go client adds these to its connection string: lib/pq's default sslmode is require.
    expect(database.config.additionalParams).toEqual({ sslmode: 'disable' })
    expect(database.config.username).toBe(pgc.info.user)
    // Templates carry pgrig's ownership marker and run id.
    const [marker] = await withClient(pgc.superuser.url, async (c) =>
      (
        await c.query<{ comment: string }>(
          "select shobj_description(oid, 'pg_database') as comment from pg_database where datname = $1",
          [database.config.database],
        )
      ).rows.map((r) => r.comment),
    )
    expect(marker).toBe(ownerMarker({ runId: api.runId, kind: 'template' }))
    expect((await call('POST', '/templates', { hash })).json).toEqual({
      message: 'template is already initialized',
    })
    expect((await call('POST', '/templates', { hash })).status).toBe(423)
    expect((await call('DELETE', `/templates/${hash}`)).status).toBe(204)
    expect((await call('PUT', `/templates/${hash}`)).status).toBe(404)
  })

  test('a test database request waits while the template is still being built', async () => {
    const hash = `wait-${Date.now()}`
    const created = await call('POST', '/templates', { hash })
    const config = (created.json!.database as { config: Config }).config
    const early = call('GET', `/templates/${hash}/tests`)
    let answered = false
    void early.then(() => (answered = true))
    await query(config, "create table notes (body text); insert into notes values ('seed')")
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(answered).toBe(false)
    expect((await call('PUT', `/templates/${hash}`)).status).toBe(204)
    const got = await early
    expect(got.status).toBe(200)
    const test = got.json as { id: number; database: { config: Config } }
    expect(await query(test.database.config, 'select body from notes')).toEqual([{ body: 'seed' }])
    // The deprecated DELETE (sent by older clients after every test) recreates: the database is dropped.
    const held = await call('GET', `/templates/${hash}/tests`)
    const heldName = (held.json as { database: { config: Config } }).database.config.database
    expect(
      (await call('DELETE', `/templates/${hash}/tests/${(held.json as { id: number }).id}`)).status,
    ).toBe(204)
    const dropped = async () =>
      (
        await withClient(pgc.superuser.url, (c) =>
          c.query('select 1 from pg_database where datname = $1', [heldName]),
        )
      ).rowCount === 0
    for (let i = 0; i < 100 && !(await dropped()); i++)
      await new Promise((resolve) => setTimeout(resolve, 50))
    expect(await dropped()).toBe(true)
    expect((await call('DELETE', `/templates/${hash}`)).status).toBe(204)
  })

  test('10 concurrent clients: never one database to two holders, never one being recreated', async () => {
    const hash = `concurrent-${Date.now()}`
    await migratedTemplate(hash)
    const holders = new Map<string, number>()
    const seen = new Set<string>()
    let handouts = 0
    const client = async (who: number) => {
      for (let round = 0; round < 6; round++) {
        const got = await call('GET', `/templates/${hash}/tests`)
        expect(got.status, got.text).toBe(200)
        const { id, database } = got.json as { id: number; database: { config: Config } }
        const name = database.config.database
        expect(
          holders.get(name),
          `${name} handed to ${who} while ${holders.get(name)} holds it`,
        ).toBeUndefined()
        holders.set(name, who)
        seen.add(name)
        handouts++
        // Fresh from the template: no other holder's writes, and it exists (is not being recreated).
        const c = new pg.Client({ connectionString: dsn(database.config) })
        await c.connect()
        try {
          expect((await c.query('select body from notes order by id')).rows).toEqual([{ body: 'seed' }])
          const dirty = (who + round) % 2 === 0
          if (dirty) await c.query(`insert into notes (body) values ('client ${who}')`)
          await new Promise((resolve) => setTimeout(resolve, 5 + ((who * 7 + round) % 20)))
          await c.end()
          holders.delete(name)
          const back = await call('POST', `/templates/${hash}/tests/${id}/${dirty ? 'recreate' : 'unlock'}`)
          expect(back.status).toBe(204)
        } finally {
          await c.end().catch(() => {})
        }
      }
    }
    await Promise.all(Array.from({ length: 10 }, (_, who) => client(who)))
    expect(handouts).toBe(60)
    // Untouched databases were reused, so fewer databases than hand-outs were made.
    expect(seen.size).toBeLessThan(60)
    expect((await call('DELETE', `/templates/${hash}`)).status).toBe(204)
    const left = await withClient(
      pgc.superuser.url,
      async (c) =>
        (await c.query('select datname from pg_database where datname = any($1)', [[...seen]])).rows,
    )
    expect(left).toEqual([])
  })
})

describe('an id names one checkout (issue 21: a late give-back hit the next holder)', () => {
  test("a retried unlock or recreate of a database's earlier checkout leaves its next holder alone", async () => {
    const hash = `checkout-${Date.now()}`
    await migratedTemplate(hash)
    const get = async () => {
      const got = await call('GET', `/templates/${hash}/tests`)
      expect(got.status, got.text).toBe(200)
      const { id, database } = got.json as { id: number; database: { config: Config } }
      return { id, config: database.config }
    }
    const first = await get()
    expect((await call('POST', `/templates/${hash}/tests/${first.id}/unlock`)).status).toBe(204)
    // Holder 2: the same database, handed out again (held databases are not free, so it comes round).
    const others: { id: number; config: Config }[] = []
    let second = await get()
    while (second.config.database !== first.config.database) {
      others.push(second)
      expect(others.length, 'the unlocked database is handed out again').toBeLessThan(7)
      second = await get()
    }
    expect(second.id, 'a new checkout, a new id').not.toBe(first.id)
    const session = new pg.Client({ connectionString: dsn(second.config) })
    await session.connect()
    try {
      await session.query("create table mine (v text); insert into mine values ('holder 2')")
      // Holder 1's retries, late: each a documented no-op.
      for (const late of ['unlock', 'recreate', 'unlock']) {
        expect((await call('POST', `/templates/${hash}/tests/${first.id}/${late}`)).status).toBe(204)
      }
      expect((await call('DELETE', `/templates/${hash}/tests/${first.id}`)).status).toBe(204)
      // Nobody else gets holder 2's database while it is out.
      for (let i = 0; i < 3; i++) {
        const next = await get()
        others.push(next)
        expect(next.config.database).not.toBe(second.config.database)
      }
      // Holder 2's session lives on, its table in place.
      expect((await session.query('select v from mine')).rows).toEqual([{ v: 'holder 2' }])
    } finally {
      await session.end().catch(() => {})
    }
    // An id never handed out is still unknown.
    expect((await call('POST', `/templates/${hash}/tests/999999/unlock`)).status).toBe(404)
    expect((await call('POST', `/templates/${hash}/tests/${second.id}/unlock`)).status).toBe(204)
    for (const other of others) await call('POST', `/templates/${hash}/tests/${other.id}/unlock`)
    expect((await call('DELETE', `/templates/${hash}`)).status).toBe(204)
  })
})

describe('liveness on the server', () => {
  test("a clone is a leftover only when its run's lock on the server is free", async () => {
    const other = 'otherhost1'
    const name = `pgrig_${other}_1`
    await withClient(pgc.superuser.url, async (c) => {
      await c.query(`create database ${name}`)
      await c.query(`comment on database ${name} is '${ownerMarker({ runId: other, kind: 'clone' })}'`)
    })
    const exists = async () =>
      withClient(
        pgc.superuser.url,
        async (c) => (await c.query('select 1 from pg_database where datname = $1', [name])).rowCount,
      )
    // Another machine's run: not in this machine's run folders, but holding its lock on the server.
    const lock = await holdRunLock(pgc.superuser.url, other)
    const gone = (runId: string) => runId !== api.runId
    expect(await dropLeftovers(pgc.superuser.url, (runId) => !gone(runId))).not.toContain(name)
    expect(await exists()).toBe(1)
    await lock.release()
    expect(await dropLeftovers(pgc.superuser.url, (runId) => !gone(runId))).toContain(name)
    expect(await exists()).toBe(0)
  })
})
