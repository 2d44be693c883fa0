import fs from 'node:fs'
import net from 'node:net'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../servers/start-server.js'
import { withClient } from './admin.js'
import { ClonePool, type ClonePoolOptions } from './clone-pool.js'
import { dropLeftovers } from './leftovers.js'
import { readLogSlice } from './log-slice.js'
import { ownerMarker } from './guard.js'
import { ensureTemplate, type Template } from './template.js'
import { MessageReader } from '../pg-wire/message-reader.js'
import { privateRunRoot } from '../../test/support/run-root.js'

privateRunRoot('clone-pool')

let pgc: StartedServer
let template: Template

beforeAll(async () => {
  pgc = await startServer({ name: 'pool-test', quiet: true })
  template = await ensureTemplate({
    adminUrl: pgc.superuser.url,
    appUrl: pgc.url,
    runId: 'pooltest',
    migrations: async (url) => {
      await rows(
        url,
        "create table items (id serial primary key, v text); insert into items (v) values ('seeded')",
      )
    },
  })
})
afterAll(() => pgc?.stop())

const rows = <T = Record<string, unknown>>(url: string, sql: string) =>
  withClient(url, async (c) => (await c.query(sql)).rows as T[])

const databases = async (pattern: string) =>
  (
    await rows<{ datname: string }>(
      pgc.superuser.url,
      `select datname from pg_database where datname like '${pattern}' order by datname`,
    )
  ).map((r) => r.datname)

function poolOptions(runId: string) {
  return {
    adminUrl: pgc.superuser.url,
    appUrl: pgc.url,
    template: template.name,
    runId,
    serverVersionNum: template.serverVersionNum,
    logFile: pgc.logFile,
  }
}

function newPool(
  runId: string,
  size: number,
  max?: number,
  dropGraceMs?: number,
  options: Partial<ClonePoolOptions> = {},
) {
  return new ClonePool({ ...options, ...poolOptions(runId), dropGraceMs, size, max })
}

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 10_000
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('ClonePool', () => {
  test('with prewarm, clones made ahead of demand have had a session before they are handed out', async () => {
    const pool = newPool('pw', 2, undefined, undefined, { prewarm: true })
    try {
      await until(() => pool.stats().ready === 2, 'the pool to fill')
      expect(pool.stats().prewarmed).toBe(2)
      const lease = await pool.acquire()
      const sessions = () =>
        rows<{ sessions: number }>(
          pgc.superuser.url,
          `select sessions::int from pg_stat_database where datname = '${lease.name}'`,
        )
      // Counted by the prewarm alone: nobody has connected to the lease yet.
      await until(async () => (await sessions())[0]?.sessions === 1, 'the prewarm session to be counted')
      pool.release(lease.name)
    } finally {
      await pool.close()
    }
  })

  test('hands out migrated, marked clones that no other test sees, and drops them after', async () => {
    const pool = newPool('pa', 2)
    try {
      await until(() => pool.stats().ready === 2, 'the pool to fill')
      const [a, b] = await Promise.all([pool.acquire(), pool.acquire()])
      expect(pool.stats().waited).toBe(0)
      expect(a!.name).toMatch(/^pgrig_pa_\d+$/)
      expect(a!.name).not.toBe(b!.name)
      await rows(a!.url, "insert into items (v) values ('only in a')")
      expect(await rows(a!.url, 'select v from items order by id')).toEqual([
        { v: 'seeded' },
        { v: 'only in a' },
      ])
      expect(await rows(b!.url, 'select v from items order by id')).toEqual([{ v: 'seeded' }])
      const [meta] = await rows<{ owner: string; comment: string }>(
        pgc.superuser.url,
        `select pg_get_userbyid(datdba) as owner, shobj_description(oid, 'pg_database') as comment from pg_database where datname = '${a!.name}'`,
      )
      expect(meta).toEqual({ owner: 'app', comment: ownerMarker({ runId: 'pa', kind: 'clone' }) })
      // adminUrl is the superuser on the same database.
      expect(
        await rows(
          a!.adminUrl,
          'select current_database() as d, (select rolsuper from pg_roles where rolname = current_user) as su',
        ),
      ).toEqual([{ d: a!.name, su: true }])
      pool.release(a!.name)
      await until(
        async () => !(await databases('pgrig_pa_%')).includes(a!.name),
        'the used clone to be dropped',
      )
      expect(() => pool.release(a!.name)).toThrow(/not leased/)
      pool.release(b!.name)
    } finally {
      await pool.close()
    }
    expect(await databases('pgrig_pa_%')).toEqual([])
  })

  test('closed with dropClones: false, it leaves its clones to the server that goes with them', async () => {
    const pool = newPool('pk', 2)
    try {
      await until(() => pool.stats().ready === 2, 'the pool to fill')
      const lease = await pool.acquire()
      pool.release(lease.name)
    } finally {
      await pool.close({ dropClones: false })
    }
    const left = await databases('pgrig_pk_%')
    expect(left.length).toBeGreaterThanOrEqual(2)
    await Promise.all(left.map((name) => rows(pgc.superuser.url, `drop database "${name}" with (force)`)))
  })

  test('on PostgreSQL 18 clones are made with file_copy_method clone where the filesystem can', async () => {
    const pool = newPool('pc', 1)
    try {
      await until(() => pool.stats().ready === 1, 'the pool to fill')
      const lease = await pool.acquire()
      expect(await rows(lease.url, 'select v from items')).toEqual([{ v: 'seeded' }])
      // The server's data lives on tmpfs (or disk) here, where copy_file_range works.
      expect(pool.stats().fileCopyMethod).toBe(template.serverVersionNum >= 180000 ? 'clone' : undefined)
      pool.release(lease.name)
    } finally {
      await pool.close()
    }
  })

  test('a worker database per key; fresh gives the key a new clone of the template and drops the one before last', async () => {
    const pool = newPool('pw', 0)
    try {
      const first = await pool.workerDatabase('1')
      expect((await pool.workerDatabase('1')).name).toBe(first.name)
      await rows(first.url, "insert into items (v) values ('left by worker one')")
      const second = await pool.workerDatabase('1', { fresh: true })
      expect(second.name).not.toBe(first.name)
      expect(await rows(second.url, 'select v from items')).toEqual([{ v: 'seeded' }])
      expect((await pool.workerDatabase('1')).name).toBe(second.name)
      // The previous worker may still be exiting: its database lives until the next fresh one.
      expect(await databases('pgrig_pw_w%')).toEqual([first.name, second.name])
      const third = await pool.workerDatabase('1', { fresh: true })
      await until(
        async () => !(await databases('pgrig_pw_w%')).includes(first.name),
        'the oldest to be dropped',
      )
      expect(await databases('pgrig_pw_w%')).toEqual([second.name, third.name])
    } finally {
      await pool.close()
    }
    expect(await databases('pgrig_pw_w%')).toEqual([])
  })

  test('caps clones alive and makes acquires wait until a clone is released', async () => {
    const pool = newPool('pb', 1, 2)
    try {
      const first = await pool.acquire()
      const second = await pool.acquire()
      let third: string | undefined
      const waiting = pool.acquire().then((l) => (third = l.name))
      await new Promise((r) => setTimeout(r, 300))
      expect(third).toBeUndefined()
      expect((await databases('pgrig_pb_%')).length).toBeLessThanOrEqual(2)
      pool.release(first.name)
      await waiting
      expect(third).toMatch(/^pgrig_pb_/)
      expect(pool.stats().alive).toBeLessThanOrEqual(2)
      pool.release(second.name)
      pool.release(third!)
    } finally {
      await pool.close()
    }
  })

  test('with grow, each acquire keeps one more ready, up to the cap', async () => {
    const grown = new ClonePool({ ...poolOptions('pg'), size: 1, max: 6, grow: true })
    const fixed = newPool('pf', 1, 6)
    try {
      for (const pool of [grown, fixed]) {
        await until(() => pool.stats().ready === 1, 'the pool to fill')
        await pool.acquire()
        await pool.acquire()
      }
      // Two acquires: the grown pool keeps 3 ready (5 alive under the cap of 6), the fixed one 1.
      await until(() => grown.stats().ready === 3, 'the grown pool to refill')
      await until(() => fixed.stats().ready === 1 && fixed.stats().busy === 0, 'the fixed pool to refill')
      await new Promise((r) => setTimeout(r, 200))
      expect(fixed.stats().ready).toBe(1)
      expect(grown.stats().ready).toBe(3)
    } finally {
      await Promise.all([grown.close(), fixed.close()])
    }
  })

  test('with replaceWhileDropping, a released clone’s replacement is created while it is dropped', async () => {
    const pool = new ClonePool({ ...poolOptions('pr'), size: 1, max: 1, replaceWhileDropping: true })
    try {
      const lease = await pool.acquire()
      let most = 0
      let watching = true
      const watch = (async () => {
        while (watching) {
          most = Math.max(most, pool.stats().alive)
          await new Promise((r) => setImmediate(r))
        }
      })()
      pool.release(lease.name)
      await until(() => pool.stats().ready === 1, 'the replacement')
      watching = false
      await watch
      // The replacement started while the released clone's DROP was running: two alive at once.
      expect(most).toBe(2)
      expect(await databases('pgrig_pr_%')).not.toContain(lease.name)
    } finally {
      await pool.close()
    }
  })

  test('a released clone is dropped only once the connections still open to it have closed', async () => {
    const pool = newPool('pe', 1, 4, 5_000)
    try {
      const lease = await pool.acquire()
      const client = new pg.Client({ connectionString: lease.url })
      const errors: Error[] = []
      client.on('error', (error) => errors.push(error))
      await client.connect()
      pool.release(lease.name)
      // Still connected: the clone stays, and the client is not terminated.
      await new Promise((r) => setTimeout(r, 300))
      expect(await databases('pgrig_pe_%')).toContain(lease.name)
      expect((await client.query('select 1 as one')).rows).toEqual([{ one: 1 }])
      await client.end()
      await until(async () => !(await databases('pgrig_pe_%')).includes(lease.name), 'the drop')
      expect(errors).toEqual([])
    } finally {
      await pool.close()
    }
  })

  test('a connection left open past the grace period is terminated and the clone dropped', async () => {
    const pool = newPool('pf', 1, 4, 300)
    try {
      const lease = await pool.acquire()
      const client = new pg.Client({ connectionString: lease.url })
      const terminated = new Promise<Error>((resolve) => client.on('error', resolve))
      await client.connect()
      const released = performance.now()
      pool.release(lease.name)
      expect(((await terminated) as Error & { code?: string }).code).toBe('57P01')
      expect(performance.now() - released).toBeGreaterThanOrEqual(250)
      await until(async () => !(await databases('pgrig_pf_%')).includes(lease.name), 'the drop')
      await client.end().catch(() => {})
    } finally {
      await pool.close()
    }
  })

  test('with tests waiting on the cap, a leaked connection holds its clone only briefly', async () => {
    const pool = newPool('pg', 0, 1, 60_000)
    try {
      const lease = await pool.acquire()
      const client = new pg.Client({ connectionString: lease.url })
      client.on('error', () => {})
      await client.connect()
      pool.release(lease.name)
      const asked = performance.now()
      const next = await pool.acquire()
      expect(performance.now() - asked).toBeLessThan(10_000)
      pool.release(next.name)
      await client.end().catch(() => {})
    } finally {
      await pool.close()
    }
  })

  test('a kept clone survives the pool; the server log written while it was leased can be read back', async () => {
    const pool = newPool('pc', 1)
    let kept: string
    try {
      const lease = await pool.acquire()
      kept = lease.name
      await rows(lease.url, 'select 1/0').catch(() => {})
      const slice = readLogSlice(lease.logFile, lease.logOffset)
      expect(slice).toContain('division by zero')
      pool.release(lease.name, { keep: true })
      expect(pool.stats().kept).toEqual([lease.name])
    } finally {
      await pool.close()
    }
    expect(await databases('pgrig_pc_%')).toEqual([kept])
    // A later pool on this server drops it once its run is gone, and only databases pgrig marked.
    await rows(pgc.superuser.url, 'create database pgrig_pc_999')
    await rows(pgc.superuser.url, `comment on database pgrig_pc_999 is 'someone else''s'`)
    const dropped = await dropLeftovers(pgc.superuser.url, (runId) => runId !== 'pc')
    expect(dropped).toContain(kept)
    expect(await databases('pgrig_pc_%')).toEqual(['pgrig_pc_999'])
    expect(await databases(template.name)).toEqual([template.name])
    await rows(pgc.superuser.url, 'drop database pgrig_pc_999')
  })

  test('leftovers of live runs are kept', async () => {
    const pool = newPool('pd', 1)
    try {
      await until(() => pool.stats().ready === 1, 'a clone')
      const dropped = await dropLeftovers(pgc.superuser.url, (runId) => runId === 'pd')
      expect(dropped.filter((n) => n.startsWith('pgrig_pd_'))).toEqual([])
    } finally {
      await pool.close()
    }
  })

  test('log slice is empty without a log file and reads only what came after the offset', () => {
    expect(readLogSlice(null, 0)).toBe('')
    const size = fs.statSync(pgc.logFile).size
    expect(readLogSlice(pgc.logFile, size)).toBe('')
  })
})

/**
 * A TCP proxy in front of a real server that holds back what the server sends from a session's
 * first ReadyForQuery on until the server sends more, then passes it all on in one write: the client
 * reads both in one chunk, as a busy process does with a socket it has not read for a while.
 * `held` is told each time a session's ReadyForQuery is held back.
 */
async function coalescingProxy(port: number, held: () => void) {
  const server = net.createServer((client) => {
    const upstream = net.connect(port, '127.0.0.1')
    const reader = new MessageReader()
    let holding: Buffer[] | undefined
    let passing = false
    client.on('error', () => upstream.destroy())
    upstream.on('error', () => client.destroy())
    client.pipe(upstream)
    upstream.on('data', (chunk: Buffer) => {
      if (passing || holding) {
        client.write(holding ? Buffer.concat([...holding, chunk]) : chunk)
        holding = undefined
        passing = true
        return
      }
      for (const message of reader.push(chunk)) {
        if (holding) holding.push(message.raw)
        else if (message.type === 'Z') holding = [message.raw]
        else client.write(message.raw)
      }
      if (holding) held()
    })
    upstream.on('end', () => client.end(Buffer.concat(holding ?? [])))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

describe('ClonePool on a server that dies', () => {
  test('a session whose backend ends right after its ReadyForQuery, in the same read, is no unhandled error', async () => {
    const server = await startServer({ name: 'pool-dies', quiet: true })
    const uncaught: Error[] = []
    process.setUncaughtExceptionCaptureCallback((error) => uncaught.push(error as Error))
    let pool: ClonePool | undefined
    try {
      // The postmaster is killed (as an OOM kill would) while the pool's first session has been
      // told it is ready but has not read it yet; its backend's 57P01 arrives in the same chunk.
      let killed = false
      const proxy = await coalescingProxy(server.port, () => {
        if (killed) return
        killed = true
        process.kill(server.pid, 'SIGKILL')
      })
      const adminUrl = new URL(server.superuser.url)
      adminUrl.hostname = '127.0.0.1'
      adminUrl.port = String(proxy.port)
      pool = new ClonePool({
        adminUrl: adminUrl.href,
        appUrl: server.url,
        template: 'template1',
        runId: 'pdie',
        serverVersionNum: 150000,
        size: 1,
        parallel: 1,
      })
      await until(() => killed && pool!.stats().busy === 0, 'the pool to give up on the dead server')
      await pool.close({ dropClones: false })
      await proxy.close()
      expect(uncaught.map((e) => `${(e as { code?: string }).code} ${e.message}`)).toEqual([])
    } finally {
      process.setUncaughtExceptionCaptureCallback(null)
      await pool?.close({ dropClones: false })
      await server.stop()
    }
  })
})
