import fs from 'node:fs'
import { afterAll, describe, expect, test } from 'vitest'
import { startServer, StartedServer } from './start-server.js'
import { isAlive } from './process-alive.js'
import { query } from '../../test/support/query.js'

describe('startServer (embedded, newest major)', () => {
  const started: { stop(): Promise<void> }[] = []
  afterAll(() => Promise.all(started.map((c) => c.stop())))

  test('answers on its url as a non-superuser app user who owns the database', async () => {
    const pgc = await startServer({ name: 'lib-basic' })
    started.push(pgc)
    expect(pgc.version).toMatch(/^18\./)
    const [row] = await query<{ one: number; su: boolean; owner: string }>(
      pgc.url,
      `select 1 as one, (select rolsuper from pg_roles where rolname = current_user) as su,
              (select pg_get_userbyid(datdba) from pg_database where datname = current_database()) as owner`,
    )
    expect(row).toEqual({ one: 1, su: false, owner: 'app' })
    await query(pgc.url, 'create table t (id int primary key)')
    const [su] = await query<{ rolsuper: boolean }>(
      pgc.superuser.url,
      'select rolsuper from pg_roles where rolname = current_user',
    )
    expect(su?.rolsuper).toBe(true)
    const [settings] = await query<{ fsync: string; lc: string }>(
      pgc.url,
      "select current_setting('fsync') as fsync, current_setting('lc_messages') as lc",
    )
    expect(settings).toEqual({ fsync: 'off', lc: 'C' })
  })

  test('a wrong password is refused (scram over TCP)', async () => {
    const pgc = await startServer({ name: 'lib-auth', password: 'right' })
    started.push(pgc)
    const url = new URL(pgc.url)
    url.password = 'wrong'
    await expect(query(url.toString(), 'select 1')).rejects.toThrow(/password authentication failed/)
  })

  test('restart keeps data; crash goes through crash recovery; stop removes everything', async () => {
    const pgc = await startServer({ name: 'lib-crash', settings: { work_mem: '8MB' } })
    await query(pgc.url, 'create table kept (v text); insert into kept values ($$x$$)')
    // A checkpoint too, so the row is in the data files, not only in the WAL, before the SIGKILL below.
    await query(pgc.superuser.url, 'checkpoint')
    const firstPid = pgc.pid
    await pgc.restart()
    expect(pgc.pid).not.toBe(firstPid)
    expect(isAlive(firstPid)).toBe(false)
    expect(await query(pgc.url, 'select v from kept')).toEqual([{ v: 'x' }])
    const [wm] = await query<{ work_mem: string }>(pgc.url, 'show work_mem')
    expect(wm?.work_mem).toBe('8MB')

    const beforeCrash = pgc.pid
    await pgc.crash()
    expect(isAlive(beforeCrash)).toBe(false)
    expect(fs.readFileSync(pgc.logFile, 'utf8')).toMatch(
      /not properly shut down; automatic recovery in progress/,
    )
    expect(await query(pgc.url, 'select v from kept')).toEqual([{ v: 'x' }])

    const { pid, dataDir } = pgc
    await pgc.stop()
    await pgc.stop()
    expect(isAlive(pid)).toBe(false)
    expect(fs.existsSync(dataDir)).toBe(false)
    await expect(pgc.restart()).rejects.toThrow(/stopped/)
  })

  test('await using stops the server at the end of the scope', async () => {
    let pid = 0
    {
      await using pgc = await startServer({ name: 'lib-using' })
      pid = pgc.pid
      expect(isAlive(pid)).toBe(true)
    }
    expect(isAlive(pid)).toBe(false)
  })

  test('a fixed port works, and a taken one is refused with a clear error', async () => {
    const first = await startServer({ name: 'lib-port-a', port: 0 })
    started.push(first)
    await expect(startServer({ name: 'lib-port-b', port: first.port })).rejects.toMatchObject({
      code: 'E_PORT_IN_USE',
      message: expect.stringMatching(new RegExp(`port ${first.port} .* already in use`)),
    })
  })

  test('init SQL runs as the app user, who owns what it creates; a failing script stops everything', async () => {
    const dir = fs.mkdtempSync('/tmp/pgrig-init-')
    try {
      fs.writeFileSync(
        `${dir}/01-schema.sql`,
        'create table seeded (id int);\ninsert into seeded values (1), (2);\n',
      )
      fs.writeFileSync(`${dir}/02-more.sh`, 'psql -X -q -c "insert into seeded values (3)"\n')
      const pgc = await startServer({ name: 'lib-init', initSql: dir })
      started.push(pgc)
      expect(await query(pgc.url, 'select count(*)::int as n from seeded')).toEqual([{ n: 3 }])
      expect(await query(pgc.url, "select tableowner from pg_tables where tablename = 'seeded'")).toEqual([
        { tableowner: 'app' },
      ])
      fs.writeFileSync(`${dir}/bad.sql`, 'select * from missing_table;\n')
      await expect(startServer({ name: 'lib-init-bad', initSql: `${dir}/bad.sql` })).rejects.toMatchObject({
        code: 'E_INIT_SCRIPT',
        message: expect.stringMatching(/bad\.sql failed .*missing_table/),
      })
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  test("what needs the superuser says to set initSqlAs: 'superuser', which runs it as the superuser", async () => {
    const dir = fs.mkdtempSync('/tmp/pgrig-init-')
    try {
      fs.writeFileSync(`${dir}/roles.sql`, 'create role reporting;\ncreate table owned_by_super (id int);\n')
      await expect(startServer({ name: 'lib-init-app', initSql: dir })).rejects.toMatchObject({
        code: 'E_INIT_SCRIPT',
        message: expect.stringMatching(
          /roles\.sql failed .*permission denied to create role.*run as the app user app .*set initSqlAs: 'superuser' \(--init-sql-as superuser\)/,
        ),
      })
      const pgc = await startServer({ name: 'lib-init-super', initSql: dir, initSqlAs: 'superuser' })
      started.push(pgc)
      expect(
        await query(pgc.url, "select tableowner from pg_tables where tablename = 'owned_by_super'"),
      ).toEqual([{ tableowner: 'postgres' }])
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  test('a startup timeout names what it waited for, how long, and the log; nothing is left running', async () => {
    // Every connection waits 5 s before it authenticates, so the readiness check cannot win the race.
    const error = await startServer({
      name: 'lib-timeout',
      startupTimeout: 300,
      settings: { pre_auth_delay: '5' },
    }).catch((e: unknown) => e)
    if (error instanceof StartedServer) await error.stop()
    expect(error).toMatchObject({ code: 'E_STARTUP_TIMEOUT' })
    expect((error as Error).message).toMatch(
      /did not accept a connection on .*socket \(port \d+\) after 300 ms \(startupTimeout\), waited \d+ ms; log .*postgres\.log (ends: |is empty)/,
    )
    expect((error as Error).message).not.toMatch(/\n/)
  })

  test('a bad setting fails fast with the reason the server gives', async () => {
    await expect(
      startServer({ name: 'lib-badsetting', settings: { shared_buffers: 'lots' } }),
    ).rejects.toMatchObject({
      code: 'E_SERVER_EXITED',
      message: expect.stringMatching(/shared_buffers/),
    })
  })
})
