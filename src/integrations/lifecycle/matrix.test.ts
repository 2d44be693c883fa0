import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../../servers/start-server.js'
import { withClient } from '../../databases/admin.js'
import { fixtureProject, repoRoot, runIn, type Ran } from '../../../test/support/fixture-project.js'
import { privateRunRoot } from '../../../test/support/run-root.js'

privateRunRoot('lifecycle')

/**
 * Two scenarios under every runner × isolation mode, with DATABASE_URL and PG* pre-set to a live
 * "dev" database pgrig did not create: test/fixtures/lifecycle-project/scenario.mjs (app code that
 * opens its own pg.Pool from DATABASE_URL, commits and ends its pool) and hooks-scenario.mjs (the
 * app's pool built in a plain beforeEach that asks pgrig for nothing, used in the test body).
 */
const RUNNERS = {
  vitest: [path.join(repoRoot, 'node_modules', 'vitest', 'vitest.mjs'), 'run', 'vitest.spec', 'hooks.spec'],
  'node:test': ['--test', 'node.test.mjs', 'node-hooks.test.mjs'],
  jest: [
    '--experimental-vm-modules',
    path.join(repoRoot, 'node_modules', 'jest', 'bin', 'jest.js'),
    'jest.test.mjs',
    'jest-hooks.test.mjs',
  ],
} as const
const MODES = ['database', 'transaction', 'truncate'] as const

let pgc: StartedServer
let dir: string
let devUrl: string
const devEnv: Record<string, string> = {}

/**
 * The dev database's committed transactions, once the server's statistics have settled (a
 * backend reports its own as it ends): read from another database, so reading adds none.
 */
async function devCommits(): Promise<number> {
  const read = () =>
    withClient(pgc.superuser.url, async (c) => {
      const { rows } = await c.query<{ n: string }>(
        "select xact_commit::text as n from pg_stat_database where datname = 'devdb'",
      )
      return Number(rows[0]?.n)
    })
  let last = await read()
  for (let i = 0; i < 40; i++) {
    await new Promise((resolve) => setTimeout(resolve, 750))
    const now = await read()
    if (now === last) return now
    last = now
  }
  return last
}

/** Everything a byte-for-byte comparison of the dev database needs: its tables, row counts, a checksum. */
const fingerprint = () =>
  withClient(devUrl, async (c) => ({
    tables: (await c.query("select tablename from pg_tables where schemaname = 'public' order by 1")).rows,
    notes: (
      await c.query<{ n: number; sum: string }>(
        "select count(*)::int as n, md5(coalesce(string_agg(id || ':' || body, ',' order by id), '')) as sum from notes",
      )
    ).rows[0],
  }))

beforeAll(async () => {
  pgc = await startServer({ name: 'lifecycle', quiet: true })
  await withClient(pgc.superuser.url, (c) => c.query('create database devdb'))
  const url = new URL(pgc.superuser.url)
  url.pathname = '/devdb'
  devUrl = url.toString()
  await withClient(devUrl, async (c) => {
    await c.query('create table notes (id serial primary key, body text not null)')
    await c.query("insert into notes (body) values ('the developer''s own'), ('do not touch')")
  })
  Object.assign(devEnv, {
    DATABASE_URL: devUrl,
    PGHOST: url.hostname,
    PGPORT: url.port,
    PGUSER: decodeURIComponent(url.username),
    PGPASSWORD: decodeURIComponent(url.password),
    PGDATABASE: 'devdb',
  })
  dir = fixtureProject('lifecycle-project')
})

afterAll(async () => {
  await pgc?.stop()
  if (dir) fs.rmSync(dir, { recursive: true, force: true })
})

const cell = (runner: keyof typeof RUNNERS, mode: (typeof MODES)[number]): Promise<Ran> =>
  // A runner that does not exit (a handle pgrig left open) fails its cell with 124 instead of hanging.
  runIn(dir, ['timeout', '120', process.execPath, ...RUNNERS[runner]], {
    ...devEnv,
    PGRIG_RUN_ID: pgc.runId,
    FIXTURE_ISOLATION: mode,
  })

type Cell = { runner: keyof typeof RUNNERS; mode: (typeof MODES)[number] }

/** Runs the cells three at a time and checks every one, and that the dev database did not change. */
async function expectCells(cells: Cell[]): Promise<void> {
  const before = await fingerprint()
  const commitsBefore = await devCommits()
  // Three at a time: the machine has two cores and each runner starts its own workers.
  const results: { runner: string; mode: string; ran: Ran }[] = []
  for (let i = 0; i < cells.length; i += 3) {
    results.push(
      ...(await Promise.all(
        cells.slice(i, i + 3).map(async (c) => ({ ...c, ran: await cell(c.runner, c.mode) })),
      )),
    )
  }
  for (const { runner, mode, ran } of results) {
    const label = `${runner} × ${mode}\n${ran.output}`
    expect(ran.code, label).toBe(0)
    const tests = ran.records.filter((r) => !['after', 'hooks-after'].includes(r.test))
    const fixture = runner === 'vitest' ? ['fixture'] : []
    expect(tests.map((r) => r.test).sort(), label).toEqual([
      'commits',
      ...fixture,
      'hooks',
      'hooks',
      'isolated',
    ])
    // An afterEach declared after pgrig's: Vitest's still sees the test's database (pgrig's part ends
    // after the last afterEach); node:test and Jest run pgrig's afterEach, declared first, before it.
    const hooksAfter = ran.records.filter((r) => r.test === 'hooks-after')
    expect(hooksAfter.length, label).toBe(2 + fixture.length)
    for (const r of hooksAfter)
      expect((r as unknown as { url: boolean }).url, label).toBe(runner === 'vitest')
    // DATABASE_URL was the test's own database while it ran…
    for (const r of tests) expect((r as unknown as { url: boolean }).url, label).toBe(true)
    for (const r of tests) expect(r.name, label).toMatch(/^pgrig_/)
    // …and what it held before once the test was over.
    const after = ran.records.filter((r) => r.test === 'after')
    expect(after.length, label).toBeGreaterThan(0)
    for (const r of after) expect((r as unknown as { databaseUrl: string }).databaseUrl, label).toBe(devUrl)
  }
  // Not one transaction reached the dev database (its rows could be put back; its counter cannot).
  expect(await devCommits()).toBe(commitsBefore)
  expect(await fingerprint()).toEqual(before)
}

// The full matrix runs nine runner processes; `npm run test:slow` runs it (PGRIG_SLOW=1).
const slowTest = test.runIf(process.env.PGRIG_SLOW === '1')

describe('runner × isolation mode, DATABASE_URL and PG* pre-set to a live database pgrig did not create', () => {
  test('each runner in one mode and each mode under one runner: the cells pass, the dev database is untouched', async () => {
    await expectCells([
      { runner: 'vitest', mode: 'transaction' },
      { runner: 'node:test', mode: 'truncate' },
      { runner: 'jest', mode: 'database' },
    ])
  }, 200_000)

  slowTest(
    'every runner × every mode: the cells pass, the dev database is untouched',
    async () => {
      await expectCells(
        Object.keys(RUNNERS).flatMap((runner) =>
          MODES.map((mode) => ({ runner: runner as keyof typeof RUNNERS, mode })),
        ),
      )
    },
    400_000,
  )
})

describe('refused in one line, never silently ignored', () => {
  const run = (argv: string[], env: Record<string, string> = {}) =>
    runIn(dir, ['timeout', '120', process.execPath, ...argv], { PGRIG_RUN_ID: pgc.runId, ...env })

  test('concurrent tests sharing one process.env (Vitest test.concurrent, node:test concurrency, Jest test.concurrent); keepFailed outside database mode', async () => {
    const [vitest, sequence, node, jest, keep] = await Promise.all([
      run([RUNNERS.vitest[0], 'run', 'concurrent.spec']),
      run([RUNNERS.vitest[0], 'run', 'vitest.spec'], { FIXTURE_SEQUENCE_CONCURRENT: '1' }),
      run(['--test', 'node-concurrent.test.mjs']),
      run([RUNNERS.jest[0], RUNNERS.jest[1], 'jest-concurrent.test.mjs']),
      run(['--test', 'node.test.mjs'], { FIXTURE_ISOLATION: 'truncate', FIXTURE_KEEP: '1' }),
    ])
    expect(vitest.code, vitest.output).not.toBe(0)
    expect(vitest.output).toContain(
      `Vitest runs "one of two concurrent tests" concurrently with other tests of its file, and pgrig points process.env (DATABASE_URL, PG*) at one test's database at a time: drop test.concurrent / describe.concurrent from the tests of pgrig/vitest's test (Vitest still runs files in parallel)`,
    )
    expect(sequence.code, sequence.output).not.toBe(0)
    expect(sequence.output).toContain(
      "Vitest's sequence.concurrent runs a file's tests side by side in one process, and pgrig points process.env (DATABASE_URL, PG*) at one test's database at a time: turn sequence.concurrent off (Vitest still runs files in parallel)",
    )
    expect(node.code, node.output).not.toBe(0)
    expect(node.output).toMatch(
      /node:test ran "(one|two)" while "(one|two)" still runs in the same process, and pgrig points process\.env \(DATABASE_URL, PG\*\) at one test's database at a time: drop the concurrency option from the tests of this file \(files still run in parallel\)/,
    )
    expect(jest.code, jest.output).not.toBe(0)
    expect(jest.output).toContain(
      `Jest runs test.concurrent tests ("one of two concurrent tests") side by side in one process, without beforeEach, and pgrig points process.env (DATABASE_URL, PG*) at one test's database at a time: use test instead of test.concurrent (Jest workers still run files in parallel)`,
    )
    expect(keep.code, keep.output).not.toBe(0)
    expect(keep.output).toContain(
      "keepFailed keeps a failed test's own database, which isolation 'truncate' does not give a test (the worker's database is reset for the next one); use isolation 'database' to keep failed databases",
    )
    for (const ran of [vitest, sequence, node, jest, keep]) expect(ran.output).not.toMatch(/^\s+at /m)
  }, 200_000)
})

test('node:test and Jest: redis: true gives db.redis, flushed before each test', async () => {
  const [node, jest] = await Promise.all([
    runIn(dir, ['timeout', '120', process.execPath, '--test', 'node-redis.test.mjs'], {
      PGRIG_RUN_ID: pgc.runId,
    }),
    runIn(dir, ['timeout', '120', process.execPath, ...RUNNERS.jest.slice(0, 2), 'jest-redis.test.mjs'], {
      PGRIG_RUN_ID: pgc.runId,
      FIXTURE_REDIS: '1',
    }),
  ])
  expect(node.code, node.output).toBe(0)
  expect(node.output).toMatch(/# pass 2/)
  expect(jest.code, jest.output).toBe(0)
  expect(jest.output).toMatch(/Tests:\s+2 passed/)
}, 150_000)

test('the services option under every runner: started after the server, env set in the test process, stopped after', async () => {
  const env = {
    PGRIG_RUN_ID: pgc.runId,
    // the installed pgrig ships no tests: the fixture's HTTP service comes from this checkout
    FIXTURE_HTTP_SERVER: path.join(repoRoot, 'test', 'fixtures', 'services', 'http-server.mjs'),
  }
  const run = (argv: string[]) => runIn(dir, ['timeout', '120', process.execPath, ...argv], env)
  const jest = RUNNERS.jest
  const [vitest, node, jestRan] = await Promise.all([
    run([RUNNERS.vitest[0], 'run', '--config', 'vitest.services.config.mjs']),
    run(['--test', 'node-services.test.mjs']),
    run([jest[0], jest[1], '--globalSetup', './jest.services-setup.mjs', 'jest-services.test.mjs']),
  ])
  for (const ran of [vitest, node, jestRan]) {
    expect(ran.code, ran.output).toBe(0)
    const [record] = ran.records.filter((r) => r.test === 'services')
    expect(record?.name, ran.output).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
    // stopped with the run
    const port = Number(new URL(record!.name).port)
    await expect(fetch(`http://127.0.0.1:${port}/`)).rejects.toThrow()
  }
}, 200_000)
