import path from 'node:path'
import { pathToFileURL } from 'node:url'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../src/servers/start-server.js'
import { withClient } from '../src/databases/admin.js'
import { ensureTemplate, type Template } from '../src/databases/template.js'
import type { ClonePool as SourcePool } from '../src/databases/clone-pool.js'
import type { poolSessions as sourcePoolSessions } from '../src/databases/clone-sessions-thread.js'
import { privateRunRoot } from './support/run-root.js'

// The sessions thread runs the built worker (Node cannot start one from TypeScript sources), so
// this file tests the built pool, as `pgrig serve` runs it (`npm run build` first).
const built = (file: string) => import(pathToFileURL(path.resolve('dist/databases', file)).href)
const { ClonePool } = (await built('clone-pool.js')) as { ClonePool: typeof SourcePool }
const { poolSessions } = (await built('clone-sessions-thread.js')) as {
  poolSessions: typeof sourcePoolSessions
}

privateRunRoot('sessions-thread')

let pgc: StartedServer
let template: Template
beforeAll(async () => {
  pgc = await startServer({ name: 'sessions-thread', quiet: true })
  template = await ensureTemplate({
    adminUrl: pgc.superuser.url,
    appUrl: pgc.url,
    runId: 'threadtest',
    migrations: async (url) => {
      await withClient(url, (c) =>
        c.query("create table items (v text); insert into items values ('seeded')"),
      )
    },
  })
})
afterAll(() => pgc?.stop())

const databases = async (like: string) =>
  withClient(pgc.superuser.url, async (c) =>
    (
      await c.query<{ datname: string }>('select datname from pg_database where datname like $1', [like])
    ).rows.map((r) => r.datname),
  )

const options = (runId: string, templateName = template.name) => ({
  adminUrl: pgc.superuser.url,
  appUrl: pgc.url,
  template: templateName,
  runId,
  serverVersionNum: template.serverVersionNum,
  size: 2,
  max: 6,
  sessionsThread: true,
  replaceWhileDropping: true,
})

describe('the clone pool with its sessions on their own thread', () => {
  test('runs them on a thread when built, and here otherwise', () => {
    const threaded = poolSessions(
      { adminUrl: pgc.superuser.url, serverVersionNum: 170000, parallel: 1 },
      true,
    )
    const here = poolSessions({ adminUrl: pgc.superuser.url, serverVersionNum: 170000, parallel: 1 }, false)
    expect([threaded.constructor.name, here.constructor.name]).toEqual(['ThreadedSessions', 'CloneSessions'])
    return Promise.all([threaded.end(), here.end()])
  })

  test('hands out fresh clones, drops released ones and closes with nothing left', async () => {
    const pool = new ClonePool(options('threadpool'))
    const leases = await Promise.all([pool.acquire(), pool.acquire(), pool.acquire()])
    expect(new Set(leases.map((l) => l.name)).size).toBe(3)
    for (const lease of leases) {
      const client = new pg.Client({ connectionString: lease.url })
      await client.connect()
      expect((await client.query('select v from items')).rows).toEqual([{ v: 'seeded' }])
      await client.query("insert into items values ('dirty')")
      await client.end()
    }
    const [first] = leases
    pool.release(first!.name)
    await expect.poll(async () => databases(first!.name), { timeout: 10_000 }).toEqual([])
    expect(pool.stats().fileCopyMethod).toBe(template.serverVersionNum >= 180000 ? 'clone' : undefined)
    await pool.close()
    expect(await databases('pgrig\\_threadpool\\_%')).toEqual([])
  })

  test("the server's error reaches the waiting acquire through the thread", async () => {
    const pool = new ClonePool({ ...options('threadmissing', 'pgrig_no_such_template'), size: 0 })
    await expect(pool.acquire()).rejects.toThrow(/could not clone the template: .*pgrig_no_such_template/)
    await pool.close()
  })
})
