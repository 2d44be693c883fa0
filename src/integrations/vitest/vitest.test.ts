import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../../servers/start-server.js'
import { listRuns } from '../../servers/run-dir.js'
import { teardownRun } from '../../servers/teardown.js'
import { withClient } from '../../databases/admin.js'
import { ownerMarker } from '../../databases/guard.js'
import { fixtureProject, repoRoot, runIn } from '../../../test/support/fixture-project.js'
import { privateRunRoot } from '../../../test/support/run-root.js'

privateRunRoot('vitest')

const vitestBin = path.join(repoRoot, 'node_modules', 'vitest', 'vitest.mjs')

interface Result {
  code: number
  output: string
  tests: { test: string; name: string; pid?: number }[]
}

async function vitest(dir: string, args: string[], env: Record<string, string> = {}): Promise<Result> {
  const ran = await runIn(dir, [process.execPath, vitestBin, 'run', ...args], env)
  return { code: ran.code, output: ran.output, tests: ran.records }
}

const rows = <T>(url: string, sql: string) => withClient(url, async (c) => (await c.query(sql)).rows as T[])

// Each of these runs Vitest two or three times; `npm run test:slow` runs them (PGRIG_SLOW=1).
const slowTest = test.runIf(process.env.PGRIG_SLOW === '1')

describe('pgrig/vitest', () => {
  let dir: string
  let pgc: StartedServer
  beforeAll(async () => {
    dir = fixtureProject('vitest-project')
    pgc = await startServer({ name: 'vitest-int', quiet: true })
  })
  afterAll(async () => {
    await pgc?.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  })
  const onServer = () => ({ PGRIG_RUN_ID: pgc.runId })
  const pgrigDatabases = () =>
    rows<{ datname: string; oid: number }>(
      pgc.superuser.url,
      "select datname, oid from pg_database where datname like 'pgrig\\_%' order by datname",
    )

  test('a server of its own, forks pool: every test gets its own migrated, seeded database', async () => {
    const result = await vitest(dir, [])
    expect(result.output).toMatch(/Tests\s+9 passed/)
    expect(result.code).toBe(0)
    expect(result.tests).toHaveLength(9)
    expect(new Set(result.tests.map((t) => t.name)).size).toBe(9)
    for (const t of result.tests) expect(t.name).toMatch(/^pgrig_[a-z0-9]{8}_\d+$/)
    // forks: files ran in several worker processes, all served by one pool.
    expect(new Set(result.tests.map((t) => t.pid)).size).toBeGreaterThan(1)
  })

  slowTest(
    'threads and shards on a kept server: the template is reused, leftovers of dead runs dropped',
    async () => {
      // Shards in parallel, one on threads, one on forks: two runs of one schema on one server.
      const [one, two] = await Promise.all([
        vitest(dir, ['--shard', '1/2', '--pool', 'threads'], onServer()),
        vitest(dir, ['--shard', '2/2'], onServer()),
      ])
      for (const shard of [one!, two!]) expect(shard.code, shard.output).toBe(0)
      const tests = [one!, two!].flatMap((s) => s.tests.map((t) => t.test)).sort()
      expect(tests).toEqual(['a1', 'a2', 'a3', 'b1', 'b2', 'b3', 'c1', 'c2', 'c3'])
      const after = await pgrigDatabases()
      const templates = after.filter((d) => d.datname.startsWith('pgrig_tpl_'))
      expect(templates).toHaveLength(1)
      // Clones are gone once the runs end.
      expect(after).toEqual(templates)
      // A clone some crashed run left behind.
      await rows(pgc.superuser.url, 'create database pgrig_deadrun1_1')
      await rows(
        pgc.superuser.url,
        `comment on database pgrig_deadrun1_1 is '${ownerMarker({ runId: 'deadrun1', kind: 'clone' })}'`,
      )
      const again = await vitest(dir, ['--pool', 'threads'], onServer())
      expect(again.code, again.output).toBe(0)
      expect(again.tests).toHaveLength(9)
      // Same template database (same oid): not rebuilt; the dead run's clone is gone.
      expect(await pgrigDatabases()).toEqual(templates)
    },
  )

  test('the proxy fixture puts a fault-injection proxy in front of the test database', async () => {
    const result = await vitest(dir, ['proxy.spec.ts'], { ...onServer(), FIXTURE_PROXY: '1' })
    expect(result.code, result.output).toBe(0)
    expect(result.output).toMatch(/Tests\s+1 passed/)
  })

  test('proxyOptions: { tls: terminate } gives a TLS-terminating proxy on a TLS server', async () => {
    // a server of its own: the plugin starts it with the tls profile
    const result = await vitest(dir, ['proxy-tls.spec.ts'], { FIXTURE_TLS: '1', FIXTURE_PROXY_TLS: '1' })
    expect(result.code, result.output).toBe(0)
    expect(result.output).toMatch(/Tests\s+1 passed/)
  })

  test("an error carrying a node-postgres client prints where it connects, never the client's password", async () => {
    const result = await vitest(dir, ['secret.spec.ts'], { ...onServer(), FIXTURE_SECRET: '1' })
    expect(result.code, result.output).toBe(1)
    expect(result.output).toContain('failed with a client on it')
    expect(result.output).toMatch(/terminating connection due to administrator command/)
    expect(result.output).toMatch(/database: 'pgrig_\w+'/)
    expect(result.output).not.toContain(pgc.password)
    expect(result.output).not.toContain(pgc.superuser.password)
  })

  test('a failed test keeps its database, prints its URL and carries the server log of the test', async () => {
    const reportDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-forensics-report-'))
    const result = await vitest(dir, ['fail.spec.ts'], {
      ...onServer(),
      FIXTURE_FAIL: '1',
      FIXTURE_KEEP: '1',
      FIXTURE_REPORT: reportDir,
    })
    expect(result.code).toBe(1)
    const kept =
      /pgrig: kept database (pgrig_\w+) of failed test "breaks on purpose": (postgres(?:ql)?:\/\/\S+)/.exec(
        result.output,
      )
    expect(kept, result.output).not.toBeNull()
    expect(result.output).toContain('pgrig: server log during this test:')
    expect(result.output).toMatch(/relation "no_such_table" does not exist/)
    // Only the test's own database and server-wide trouble; the log once.
    expect(result.output).not.toMatch(/another_databases_table|checkpoint starting/)
    expect(result.output.split('relation "no_such_table" does not exist').length - 1).toBe(1)
    expect(kept![2]).toContain(':***@')
    const name = kept![1]!
    const url = kept![2]!.replace(':***@', `:${encodeURIComponent(pgc.password)}@`)
    expect(await rows<{ body: string }>(url, 'select body from notes order by id')).toEqual([
      { body: 'first' },
      { body: 'second' },
      { body: 'evidence' },
    ])
    expect((await pgrigDatabases()).map((d) => d.datname)).toContain(name)
    // The pgrig reporter gets the same forensics through task.meta, with the password redacted.
    const results = JSON.parse(fs.readFileSync(path.join(reportDir, 'results.json'), 'utf8')) as {
      runs: {
        pgVersion: string | null
        environment: { servers: { address: string; version: string | null; engine: string | null }[] }
        tests: {
          name: string
          serverLog: string | null
          keptDatabaseUrl: string | null
          provisionMs: number | null
        }[]
      }[]
    }
    // No PGRIG_<NAME>_URL in the environment: the report still names the server the plugin's tests ran on.
    expect(results.runs[0]!.environment.servers).toEqual([
      expect.objectContaining({
        address: `${pgc.host}:${pgc.port}`,
        version: expect.stringMatching(/^\d+\.\d+/),
      }),
    ])
    expect(results.runs[0]!.pgVersion).toBe(pgc.version.split('.')[0])
    const failed = results.runs[0]!.tests.find((t) => t.name === 'breaks on purpose')!
    expect(failed.serverLog).toMatch(/relation "no_such_table" does not exist/)
    expect(failed.serverLog).not.toMatch(/another_databases_table|checkpoint starting/)
    // The report shows the log in its own place, not again inside the error's message.
    const markdown = fs.readFileSync(path.join(reportDir, 'report.md'), 'utf8')
    expect(markdown.split('relation "no_such_table" does not exist').length - 1, markdown).toBe(1)
    expect(failed.keptDatabaseUrl).toContain(name)
    expect(failed.keptDatabaseUrl).not.toContain(new URL(url).password)
    expect(failed.provisionMs).toBeGreaterThan(0)
    fs.rmSync(reportDir, { recursive: true, force: true })
  })

  test("no 6+ character piece of the run's passwords reaches any report file (junit, html, md, json)", async () => {
    const reportDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-leak-report-'))
    try {
      const result = await vitest(dir, ['leak.spec.ts'], {
        ...onServer(),
        FIXTURE_LEAK: '1',
        FIXTURE_REPORT: reportDir,
      })
      expect(result.code, result.output).toBe(1)
      expect(result.output).toMatch(/Tests\s+3 failed \| 1 passed/)
      const files = fs.readdirSync(reportDir)
      expect(files).toEqual(expect.arrayContaining(['junit.xml', 'report.html', 'report.md', 'results.json']))
      for (const secret of [pgc.password, pgc.superuser.password]) {
        for (let i = 0; i + 6 <= secret.length; i++) {
          const piece = secret.slice(i, i + 6)
          for (const file of files) {
            expect(fs.readFileSync(path.join(reportDir, file), 'utf8'), `${file}: ${piece}`).not.toContain(
              piece,
            )
          }
        }
      }
    } finally {
      fs.rmSync(reportDir, { recursive: true, force: true })
    }
  })

  slowTest('watch mode: a rerun is served by the same pool', async () => {
    const out = path.join(dir, 'watch.jsonl')
    fs.writeFileSync(out, '')
    const child = spawn(process.execPath, [vitestBin, '--watch', 'a.spec.ts'], {
      cwd: dir,
      env: { ...process.env, ...onServer(), FIXTURE_OUT: out, NO_COLOR: '1' },
    })
    let output = ''
    child.stdout.on('data', (c: Buffer) => (output += c))
    child.stderr.on('data', (c: Buffer) => (output += c))
    const runs = () => (output.match(/Tests\s+3 passed/g) ?? []).length
    const waitFor = async (n: number) => {
      const deadline = Date.now() + 30_000
      while (runs() < n) {
        if (Date.now() > deadline) throw new Error(`watch run ${n} did not finish:\n${output}`)
        await new Promise((r) => setTimeout(r, 50))
      }
    }
    try {
      await waitFor(1)
      fs.appendFileSync(path.join(dir, 'a.spec.ts'), '\n// touched\n')
      await waitFor(2)
    } finally {
      child.kill('SIGTERM')
    }
    const tests = fs
      .readFileSync(out, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { name: string })
    expect(tests).toHaveLength(6)
    // One pool across both runs: clone numbers keep counting up under one run id.
    const runIds = new Set(tests.map((t) => /^pgrig_([a-z0-9]+)_\d+$/.exec(t.name)?.[1]))
    expect(runIds.size).toBe(1)
    expect(new Set(tests.map((t) => t.name)).size).toBe(6)
  })

  test('watch mode ended by SIGTERM or SIGINT: the kept database is printed once and its server stays up', async () => {
    const endBy = async (signal: 'SIGTERM' | 'SIGINT') => {
      // A server of its own (no PGRIG_RUN_ID): the run's, which only a kept database keeps up.
      const child = spawn(process.execPath, [vitestBin, '--watch', 'fail.spec.ts'], {
        cwd: dir,
        env: { ...process.env, FIXTURE_FAIL: '1', FIXTURE_KEEP: '1', NO_COLOR: '1', PGRIG_RUN_ID: '' },
      })
      let output = ''
      child.stdout.on('data', (c: Buffer) => (output += c))
      child.stderr.on('data', (c: Buffer) => (output += c))
      const exited = new Promise((resolve) => child.on('close', resolve))
      const deadline = Date.now() + 60_000
      while (!/Watching for file changes/.test(output)) {
        if (Date.now() > deadline) throw new Error(`the watch run did not finish:\n${output}`)
        await new Promise((r) => setTimeout(r, 50))
      }
      child.kill(signal)
      await exited
      return output
    }
    const outputs = await Promise.all([endBy('SIGTERM'), endBy('SIGINT')])
    try {
      for (const output of outputs) {
        const lines =
          output.match(/pgrig: kept database (pgrig_\w+) .*\(its server (\S+) stays up after the run/g) ?? []
        expect(lines, output).toHaveLength(1)
        const [, keptName, serverName] = /kept database (pgrig_\w+) .*\(its server (\S+) stays up/.exec(
          lines[0]!,
        )!
        const run = listRuns().find((r) => r.servers.some((s) => s.name === serverName))
        expect(run?.detached, output).toBe(true)
        const kept = await rows<{ datname: string }>(
          run!.servers[0]!.superuser.url,
          `select datname from pg_database where datname = '${keptName}'`,
        )
        expect(kept).toHaveLength(1)
      }
    } finally {
      // Every server a kept line names, passed or failed: nothing of this test outlives it.
      const named = outputs.flatMap((o) => [...o.matchAll(/its server (test-\w+)/g)].map((m) => m[1]!))
      for (const run of listRuns().filter((r) => r.servers.some((s) => named.includes(s.name))))
        await teardownRun(run.runId)
    }
  })

  test('truncate and transaction modes reset the worker database between tests; redis is flushed per test', async () => {
    const [truncate, transaction, typo] = await Promise.all([
      vitest(dir, ['modes.spec.ts'], { ...onServer(), FIXTURE_ISOLATION: 'truncate', FIXTURE_REDIS: '1' }),
      vitest(dir, ['modes.spec.ts', '--pool', 'threads'], {
        ...onServer(),
        FIXTURE_ISOLATION: 'transaction',
      }),
      vitest(dir, ['modes.spec.ts'], {
        ...onServer(),
        FIXTURE_ISOLATION: 'truncate',
        FIXTURE_EXCLUDE: 'tagz',
      }),
    ])
    // A name in exclude that matches no table stops the run before any test, in one line.
    expect(typo.code).not.toBe(0)
    expect(typo.output).toMatch(/exclude names "tagz", which matches no table of the migrated database/)
    expect(typo.output).not.toMatch(/(exclude|session)\.(js|ts):\d+/)
    expect(typo.tests).toEqual([])
    expect(truncate.code, truncate.output).toBe(0)
    expect(truncate.output).toMatch(/Tests\s+4 passed/)
    expect(transaction.code, transaction.output).toBe(0)
    expect(transaction.output).toMatch(/Tests\s+4 passed/)
    // Worker databases go with their runs.
    expect((await pgrigDatabases()).filter((d) => /_w\d+$/.test(d.datname))).toEqual([])
  })

  slowTest('reuse: the server outlives the run and the next run clones the same template', async () => {
    const reused = () =>
      listRuns().find((r) => r.detached && r.servers.some((s) => s.name.startsWith('pgrig-reuse-')))
    const first = await vitest(dir, ['a.spec.ts'], { FIXTURE_REUSE: '1' })
    expect(first.code, first.output).toBe(0)
    const run = reused()
    expect(run).toBeDefined()
    try {
      const server = run!.servers[0]!
      const templates = () =>
        rows<{ datname: string; oid: number }>(
          server.superuser.url,
          "select datname, oid from pg_database where datname like 'pgrig\\_%' order by datname",
        )
      const before = await templates()
      expect(before).toHaveLength(1)
      const second = await vitest(dir, ['a.spec.ts'], { FIXTURE_REUSE: '1' })
      expect(second.code, second.output).toBe(0)
      expect(reused()?.servers[0]?.pid).toBe(server.pid)
      expect(await templates()).toEqual(before)
    } finally {
      await teardownRun(run!.runId)
    }
  })

  test('a DATABASE_URL that is not PostgreSQL stops the run before any test runs', async () => {
    for (const url of ['sqlite:///tmp/app.db', 'sqlite+aiosqlite:///app.db', 'mysql://root@localhost/app']) {
      const result = await vitest(dir, ['a.spec.ts'], { ...onServer(), DATABASE_URL: url })
      expect(result.code, result.output).not.toBe(0)
      expect(result.output).toMatch(/DATABASE_URL .*not PostgreSQL|DATABASE_URL .*postgres:\/\//)
      expect(result.output).not.toMatch(/guard\.(js|ts):\d+/)
      expect(result.tests).toEqual([])
    }
  })

  test('a broken migration stops the run with one line naming the file', async () => {
    const broken = fixtureProject('vitest-project')
    try {
      fs.writeFileSync(
        path.join(broken, 'migrations', '003_broken.sql'),
        'alter table nope add column x int;',
      )
      const result = await vitest(broken, [], onServer())
      expect(result.code).not.toBe(0)
      expect(result.output).toContain(
        'migration migrations/003_broken.sql failed: relation "nope" does not exist; fix the file and run again',
      )
      expect(result.output).not.toMatch(/template\.(js|ts):\d+/)
    } finally {
      fs.rmSync(broken, { recursive: true, force: true })
    }
  })
})
