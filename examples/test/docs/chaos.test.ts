/**
 * docs/chaos.md's code, run: each `#region` here is a block of that page (test/docs.test.ts checks
 * they agree). The page's blocks assume a server `pg` (or `server`) and sometimes a `proxy`; here
 * they are this file's own server, since the faults crash and corrupt it.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { query as sql } from './query.js'
import { Client } from 'pg'
import type { StartedServer } from 'pgrig'
// #region proxy
import { createProxy, proxiedUrl } from 'pgrig/chaos'
// #endregion proxy
// #region server-faults
import {
  terminateBackends,
  crashServer,
  restartServer,
  exhaustConnections,
  holdLock,
  setTimeouts,
  capResources,
  setSessionDefaults,
} from 'pgrig/chaos'
// #endregion server-faults
// #region corruption
import { verify, corrupt } from 'pgrig/chaos'
// #endregion corruption
// #region property
import fc from 'fast-check'
import { pgProperty } from 'pgrig/chaos'
// #endregion property
// #region checker
import { startServer } from 'pgrig'
import { check, formatCheckResult, runWorkload } from 'pgrig/chaos'
// #endregion checker
// #region history
import { HistoryRecorder, append, read, write } from 'pgrig/chaos'
// #endregion history

let server: StartedServer

beforeAll(async () => {
  server = await startServer({ name: 'docs-chaos', quiet: true })
  await sql(
    server.url,
    `create table accounts (id int primary key, balance int not null);
     insert into accounts select g, 100 from generate_series(1, 3) g;
     create table orders (id int primary key, note text) with (autovacuum_enabled = off);
     insert into orders select g, repeat('x', 60) from generate_series(1, 2000) g;
     create table ledger (id serial primary key, amount int not null);
     create function ledger_total() returns bigint language sql as 'select coalesce(sum(amount), 0) from ledger'`,
  )
}, 120_000)
afterAll(() => server?.stop())

describe('the fault-injection proxy', () => {
  test('toxics, down and reset', async () => {
    // #region proxy
    await using proxy = await createProxy({ upstream: server }) // listens on 127.0.0.1, free port
    const url = proxy.url // server.url with the proxy's host:port (= proxiedUrl(server.url, proxy))
    proxy.addToxic({ type: 'latency', attributes: { latency: 150, jitter: 10 } })
    proxy.updateToxic('latency_downstream', { attributes: { latency: 300 } }) // open connections too
    proxy.removeToxic('latency_downstream')
    await proxy.disable() // "down": connections refused, open ones dropped; enable() undoes it
    await proxy.reset() // every toxic and statement fault gone, enabled again
    // #endregion proxy
    expect(url).toBe(proxiedUrl(server.url, proxy))
    expect(proxy.listToxics()).toEqual([])
    expect(await sql(url, 'select 1 as one')).toEqual([{ one: 1 }])
  })

  test('statement faults', async () => {
    await using proxy = await createProxy({ upstream: server })
    // #region statement-faults
    proxy.addStatementFault({ type: 'error', code: '40001', match: /update accounts/i, times: 1 })
    proxy.addStatementFault({ type: 'error', code: '57P01', match: 'select 9' }) // FATAL, then closes
    proxy.addStatementFault({ type: 'delay', ms: 300, match: /from accounts/ })
    proxy.addStatementFault({ type: 'ambiguous-commit', times: 1 }) // COMMIT runs; client gets a connection error
    // #endregion statement-faults
    await expect(sql(proxy.url, 'update accounts set balance = 0')).rejects.toMatchObject({ code: '40001' })
    await expect(sql(proxy.url, 'select 9')).rejects.toMatchObject({ code: '57P01' })
    // the spent `times: 1` fault is gone
    expect(proxy.listStatementFaults()).toHaveLength(3)
  })

  test('TLS termination: statement faults act inside TLS', async () => {
    await using tlsServer = await startServer({ name: 'docs-chaos-tls', tls: 'on', quiet: true })
    // #region tls-terminate
    await using proxy = await createProxy({ upstream: tlsServer, tls: 'terminate' }) // tlsServer started with tls: 'on'
    const url = proxy.url // tlsServer.url's sslmode=verify-full + pgrig CA, pointed at the proxy: clients connect unchanged
    proxy.addStatementFault({ type: 'error', code: '40001', match: /update accounts/i }) // acts inside TLS
    // #endregion tls-terminate
    expect(url).toContain('sslmode=verify-full')
    await sql(url, 'create table accounts (id int)')
    await expect(sql(url, 'update accounts set id = 2')).rejects.toMatchObject({ code: '40001' })
  })

  test('startup faults refuse connections before the server is dialled', async () => {
    await using proxy = await createProxy({ upstream: server })
    // #region startup-faults
    const full = proxy.addStartupFault({ code: '53300', times: 2 }) // the next 2 connections fail
    proxy.addStartupFault({ code: '57P03', probability: 0.5 }) // half the new connections
    const refused = full.hits // connections refused so far
    proxy.removeStartupFault(full) // or reset()
    // #endregion startup-faults
    expect(refused).toBe(0)
    expect(proxy.listStartupFaults()).toHaveLength(1)
    proxy.addStartupFault({ code: '53300', times: 1 })
    await expect(sql(proxy.url, 'select 1')).rejects.toMatchObject({
      code: /53300|57P03/,
    })
  })
})

describe('server faults, corruption, property tests', () => {
  test('server faults', async () => {
    const pg = server
    const worker = new Client({
      connectionString: pg.url,
      application_name: 'worker',
    })
    worker.on('error', () => {})
    await worker.connect()
    const running = worker
      .query('select pg_sleep(30) /* refresh_view */')
      .catch((error: { code?: string }) => error.code)
    await new Promise((resolve) => setTimeout(resolve, 200))
    // #region server-faults
    await terminateBackends(pg, { applicationName: 'worker', query: /refresh_view/ }) // → ended backends; clients see 57P01
    const crash = await crashServer(pg) // SIGKILL, restart through crash recovery; crash.recoveryLog proves it
    await restartServer(pg) // clean restart; open sessions see 57P01
    await using held = await exhaustConnections(pg) // app clients get 53300 until released; superuser slots stay free
    await using lock = await holdLock(pg, { table: 'accounts', row: { id: 1 }, forMs: 2000 }) // others wait / 55P03
    await using t = await setTimeouts(pg, { statement_timeout: 200, lock_timeout: '1s' }) // 57014, 55P03, 25P03
    await using caps = await capResources(pg, { temp_file_limit: '1MB', work_mem: '64kB' }) // 53400 past the cap
    // #endregion server-faults
    expect(await running).toBe('57P01')
    expect(crash.recoveryLog.join('\n')).toMatch(/redo|recovery/)
    await expect(sql(pg.url, 'select 1')).rejects.toMatchObject({ code: '53300' })
    void [held, lock, t, caps, setSessionDefaults]
  })

  test('corruption', async () => {
    const pg = server
    // #region corruption
    await corrupt({ cluster: pg, table: 'orders', block: 2, how: 'flip-bytes' }) // or index:, 'page-header', 'zero-page'
    await verify(pg) // [{ check: 'read', relation: 'public.orders', block: 2, message: 'invalid page in block 2 …' }, …]
    // #endregion corruption
    const findings = await verify(pg)
    expect(findings.some((f) => f.relation === 'public.orders' && f.block === 2)).toBe(true)
    // The superuser's URL names the postgres database; the table lives in the app's.
    const admin = new URL(pg.superuser.url)
    admin.pathname = `/${pg.database}`
    await sql(admin.href, 'drop table orders')
  })

  test('a property over a ledger', async () => {
    const pg = server
    // #region property
    await pgProperty(pg, [fc.array(fc.integer())], async (sql, amounts) => {
      for (const a of amounts) await sql`insert into ledger (amount) values (${a})`
      const { rows } = await sql`select ledger_total() as total`
      expect(Number(rows[0]?.total)).toBe(amounts.reduce((x, y) => x + y, 0))
    }) // { isolation: 'database' } for code that commits; any fast-check parameter (seed, path, numRuns…)
    // #endregion property
  })
})

describe('the isolation-anomaly checker', () => {
  test('write skew under repeatable read', async () => {
    // #region checker
    await using pg = await startServer()
    const { history, guarantee } = await runWorkload({
      url: pg.url,
      model: 'rw-register', // or 'list-append'
      isolation: 'repeatable-read', // 'read-committed' | 'repeatable-read' | 'serializable'
      clients: 6, // separate connections, no retries: 40001 is recorded as a failure
      transactions: 400,
      keys: 3, // distribution: 'uniform' | 'exponential'; seed: replay a run
    })
    const result = check(history, { model: 'rw-register', isolation: guarantee }) // 'snapshot-isolation' here
    const { anomalyTypes, valid } = result // e.g. ['G2-item']: write skew, which REPEATABLE READ allows
    // valid: true, nothing snapshot isolation forbids
    const report = formatCheckResult(result)
    // "  G2-item: T12 —rw(y)→ T15 —rw(x)→ T12  [allowed at snapshot-isolation, the level judged; violates
    //   repeatable-read in Adya's sense (PL-2.99, stricter than PostgreSQL's), serializable, …]"
    // #endregion checker
    expect(guarantee).toBe('snapshot-isolation')
    expect(valid).toBe(true)
    expect(report).not.toMatch(/violates snapshot-isolation/)
    expect(anomalyTypes.every((type) => type.startsWith('G2'))).toBe(true)
  }, 120_000)

  test('a history recorded by hand', async () => {
    const processId = 1
    // #region history
    const recorder = new HistoryRecorder()
    await recorder.record(processId, [append('x', 7), read('y')], async () => {
      // … run the transaction …
      return [append('x', 7), read('y', [1, 2])] // what the reads returned
    }) // throws through; SQLSTATE 22/23/25/40/42/44 record `fail`, anything else `info` (may have committed)
    const pending = recorder.invoke(processId, [write('k', 3)]) // or by hand: pending.ok(ops) / .fail(err) / .info(err)
    check(recorder.history, { model: 'list-append' })
    // #endregion history
    pending.ok([write('k', 3)])
    expect(recorder.history.length).toBeGreaterThan(0)
  })
})
