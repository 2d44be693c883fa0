import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../servers/start-server.js'
import { privateRunRoot } from '../../test/support/run-root.js'
import { withClient } from './admin.js'
import { startRunDatabases } from './run-databases.js'

privateRunRoot('socket-url')

// libpq's unix-socket URL forms: the guard accepts them, and a template builds and clones there.
describe('a server reached through its unix socket', () => {
  let pgc: StartedServer
  let migrations: string
  beforeAll(async () => {
    pgc = await startServer({ name: 'socket-url', quiet: true })
    migrations = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-socket-migrations-'))
    fs.writeFileSync(path.join(migrations, '001_items.sql'), 'create table items (id int primary key);')
  })
  afterAll(async () => {
    await pgc?.stop()
    fs.rmSync(migrations, { recursive: true, force: true })
  })

  const forms = () => {
    const { socketDir, port, superuser } = pgc.info
    const user = superuser.user
    return [
      `postgres:///postgres?host=${encodeURIComponent(socketDir!)}&port=${port}&user=${user}`,
      `postgresql://${user}:${encodeURIComponent(superuser.password)}@/postgres?host=${socketDir}&port=${port}`,
    ]
  }

  test.each([0, 1])('form %i: a session builds the template and hands out clones', async (i) => {
    const url = forms()[i]!
    const session = await startRunDatabases({ url, allowExternal: true, migrations })
    try {
      const lease = await session.acquire()
      const rows = await withClient(lease.url, async (c) => {
        await c.query('insert into items values (1)')
        return (await c.query('select count(*)::int as n from items')).rows
      })
      expect(rows).toEqual([{ n: 1 }])
      expect(lease.name).toMatch(/^pgrig_[a-z0-9]{8}_\d+$/)
      session.pool.release(lease.name)
    } finally {
      await session.close()
    }
  })
})
