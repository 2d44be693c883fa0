import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../servers/start-server.js'
import { withClient } from '../databases/admin.js'
import { fixtureProject, repoRoot, runIn, type Ran } from '../../test/support/fixture-project.js'
import { privateRunRoot } from '../../test/support/run-root.js'

privateRunRoot('runners')

let pgc: StartedServer
const dirs: string[] = []
beforeAll(async () => {
  pgc = await startServer({ name: 'runners', quiet: true })
})
afterAll(async () => {
  await pgc?.stop()
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
})

const clonesLeft = () =>
  withClient(
    pgc.superuser.url,
    async (c) =>
      (
        await c.query(
          "select datname from pg_database where datname like 'pgrig\\_%' and datname not like 'pgrig\\_tpl\\_%'",
        )
      ).rows,
  )

interface ProxyRecord {
  test: string
  name: string
  port: number
  outside: string
}

/** What a-files record: the line a user gets touching db.proxy without opting in. */
const proxyOffLine = (ran: Ran) => {
  const lines = new Set(
    ran.records.filter((r) => r.test.startsWith('a')).map((r) => (r as { proxyOff?: string }).proxyOff),
  )
  expect(lines.size).toBe(1)
  return [...lines][0]
}

const refused = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    socket.on('connect', () => {
      socket.destroy()
      resolve(false)
    })
    socket.on('error', (error: NodeJS.ErrnoException) => resolve(error.code === 'ECONNREFUSED'))
  })

/**
 * The proxy fixture's three tests: one sees its latency toxic and 40001 fault, one fails with
 * both in place, and the last finds a clean proxy and the earlier proxies' ports closed.
 */
async function expectProxyRun(ran: Ran): Promise<void> {
  expect(ran.code, ran.output).not.toBe(0)
  expect(ran.output).toMatch(/breaks on purpose/)
  const records = ran.records as unknown as ProxyRecord[]
  expect(
    records.map((r) => r.test),
    ran.output,
  ).toEqual(['faulted', 'failing', 'clean'])
  expect(new Set(records.map((r) => r.port)).size).toBe(3)
  for (const r of records) {
    expect(r.outside).toBe(
      'the pgrig proxy is only available inside a test (between beforeEach and afterEach)',
    )
    expect(await refused(r.port), `proxy port ${r.port} still open`).toBe(true)
  }
  expect(await clonesLeft()).toEqual([])
}

describe('other runners', () => {
  test('node:test: usePgrig gives every test its own migrated, seeded database; files share the server', async () => {
    const dir = fixtureProject('node-test-project')
    dirs.push(dir)
    // notes.test.mjs and retry.test.mjs are docs/getting-started.md's node:test blocks.
    const files = ['a.test.mjs', 'b.test.mjs', 'notes.test.mjs', 'retry.test.mjs']
    const ran = await runIn(dir, [process.execPath, '--test', ...files], { PGRIG_RUN_ID: pgc.runId })
    expect(ran.code, ran.output).toBe(0)
    expect(ran.output).toMatch(/# pass 6\b/)
    expect(ran.records.map((r) => r.test).sort()).toEqual(['a1', 'a2', 'b1', 'b2'])
    expect(new Set(ran.records.map((r) => r.name)).size).toBe(4)
    expect(await clonesLeft()).toEqual([])
    expect(proxyOffLine(ran)).toBe('db.proxy is off for this file: turn it on with usePgrig({ proxy: true })')
  })

  test('node:test: usePgrig({ proxy: true }) gives each test a fresh proxy, closed after it even when it fails', async () => {
    const dir = fixtureProject('node-test-project')
    dirs.push(dir)
    const ran = await runIn(dir, [process.execPath, '--test', 'proxy.test.mjs'], {
      PGRIG_RUN_ID: pgc.runId,
      FIXTURE_FAIL: '1',
    })
    await expectProxyRun(ran)
  })

  test("node:test: proxy takes the proxy's options, e.g. { tls: 'terminate' } in front of a TLS server", async () => {
    const dir = fixtureProject('node-test-project')
    dirs.push(dir)
    // No PGRIG_RUN_ID: the file starts its own server with the tls profile.
    const ran = await runIn(dir, [process.execPath, '--test', 'proxy-tls.test.mjs'])
    expect(ran.code, ran.output).toBe(0)
    expect(ran.records.map((r) => r.test)).toEqual(['tls'])
  })

  /** The fixture's failing test ("breaks on purpose") left its database, named with the password hidden, and its server log. */
  async function expectKeptFailure(ran: Ran): Promise<void> {
    expect(ran.code).not.toBe(0)
    const kept =
      /pgrig: kept database (pgrig_\w+) of failed test "breaks on purpose": (postgres(?:ql)?:\/\/\S+)/.exec(
        ran.output,
      )
    expect(kept, ran.output).not.toBeNull()
    expect(kept![2]).toContain(':***@')
    expect(ran.output).toMatch(/relation "no_such_table" does not exist/)
    const url = kept![2]!.replace(':***@', `:${encodeURIComponent(pgc.password)}@`)
    const rows = await withClient(
      url,
      async (c) => (await c.query('select body from notes order by id')).rows,
    )
    expect(rows).toEqual([{ body: 'first' }, { body: 'second' }, { body: 'evidence' }])
    await withClient(pgc.superuser.url, (c) => c.query(`drop database ${kept![1]}`))
  }

  test('node:test: a failed test keeps its database (keepFailed), prints it with the password hidden, and its server log', async () => {
    const dir = fixtureProject('node-test-project')
    dirs.push(dir)
    const ran = await runIn(dir, [process.execPath, '--test', 'fail.test.mjs'], { PGRIG_RUN_ID: pgc.runId })
    await expectKeptFailure(ran)
  })

  test('Jest: globalSetup serves every worker from one pool; useTestDatabase hands each test a database', async () => {
    const dir = fixtureProject('jest-project')
    dirs.push(dir)
    const jest = path.join(repoRoot, 'node_modules', 'jest', 'bin', 'jest.js')
    const ran = await runIn(dir, [process.execPath, '--experimental-vm-modules', jest, '--maxWorkers=2'], {
      PGRIG_RUN_ID: pgc.runId,
    })
    expect(ran.code, ran.output).toBe(0)
    // notes.test.mjs is docs/getting-started.md's Jest block.
    expect(ran.output).toMatch(/PASS \S*notes\.test\.mjs/)
    expect(ran.records.map((r) => r.test).sort()).toEqual(['a1', 'a2', 'b1', 'b2'])
    expect(new Set(ran.records.map((r) => r.name)).size).toBe(4)
    // One pool for both worker processes: one run id in every clone name.
    expect(new Set(ran.records.map((r) => r.name.split('_')[1])).size).toBe(1)
    expect(await clonesLeft()).toEqual([])
    expect(proxyOffLine(ran)).toBe(
      'db.proxy is off for this file: turn it on with useTestDatabase({ proxy: true })',
    )
  })

  test('Jest: useTestDatabase({ proxy: true }) gives each test a fresh proxy, closed after it even when it fails', async () => {
    const dir = fixtureProject('jest-project')
    dirs.push(dir)
    const jest = path.join(repoRoot, 'node_modules', 'jest', 'bin', 'jest.js')
    const ran = await runIn(dir, [process.execPath, '--experimental-vm-modules', jest, 'proxy.test.mjs'], {
      PGRIG_RUN_ID: pgc.runId,
      FIXTURE_PROXY: '1',
      FIXTURE_FAIL: '1',
    })
    await expectProxyRun(ran)
  })

  test('Jest under pgrig/jest/environment: a failed test keeps its database (keepFailed) and prints its server log', async () => {
    const dir = fixtureProject('jest-project')
    dirs.push(dir)
    const jest = path.join(repoRoot, 'node_modules', 'jest', 'bin', 'jest.js')
    const ran = await runIn(dir, [process.execPath, '--experimental-vm-modules', jest, 'fail.test.mjs'], {
      PGRIG_RUN_ID: pgc.runId,
      FIXTURE_FAIL: '1',
      FIXTURE_KEEP: '1',
    })
    await expectKeptFailure(ran)
  })

  test('pgrig run exports PGRIG_RUN_ID, naming the run whose state holds the superuser', async () => {
    const cli = path.join(repoRoot, 'dist', 'cli', 'main.js')
    const script =
      "const fs=require('fs');const id=process.env.PGRIG_RUN_ID;const s=JSON.parse(fs.readFileSync(require('path').join(process.env.PGRIG_RUN_ROOT,'pgrig-'+process.getuid(),id,'state.json')));console.log(id, s.servers[0].superuser.user)"
    const ran = await runIn(repoRoot, [
      process.execPath,
      cli,
      'run',
      '--quiet',
      '--',
      process.execPath,
      '-e',
      script,
    ])
    expect(ran.code, ran.output).toBe(0)
    expect(ran.output.trim()).toMatch(/^[a-z0-9]{8} postgres$/)
  })
})
