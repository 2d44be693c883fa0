import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { isAlive, waitUntil } from '../src/servers/process-alive.js'
import { listRuns } from '../src/servers/run-dir.js'
import { teardownRun } from '../src/servers/teardown.js'
import { fixtureProject, repoRoot, runIn } from './support/fixture-project.js'
import { privateRunRoot } from './support/run-root.js'

privateRunRoot('poolsafety')

const vitestBin = path.join(repoRoot, 'node_modules', 'vitest', 'vitest.mjs')
const slowTest = test.runIf(process.env.PGRIG_SLOW === '1')

describe('database mode with code under test that ends its own pg.Pool', () => {
  let dir: string
  beforeAll(() => {
    dir = fixtureProject('pool-end-project')
  })
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

  /** `runs` Vitest runs of 4 files × `perFile` tests, one after the other. */
  async function runs(runs: number, perFile: number): Promise<void> {
    for (let i = 1; i <= runs; i++) {
      const result = await runIn(dir, [process.execPath, vitestBin, 'run'], {
        FIXTURE_TESTS_PER_FILE: String(perFile),
      })
      const context = `run ${i} of ${runs}:\n${result.output.slice(-4000)}`
      expect(result.output, context).not.toMatch(/terminating connection due to administrator command|57P01/)
      expect(result.output, context).not.toMatch(/\bErrors\b/)
      expect(result.output, context).toMatch(new RegExp(`Tests\\s+${4 * perFile} passed`))
      expect(result.code, context).toBe(0)
      console.log(`pool-safety: run ${i} of ${runs}: ${4 * perFile} tests passed, exit 0, no Errors`)
    }
  }

  test('dropping each used clone never reaches a closing socket (2 runs × 100 tests)', async () => {
    await runs(Number(process.env.POOLSAFETY_RUNS ?? 2), 25)
  }, 240_000)

  slowTest(
    '20 runs × 400 tests exit 0 with no Errors',
    async () => {
      await runs(20, 100)
    },
    3_600_000,
  )
})

interface JsonReport {
  testResults: { assertionResults: { title: string; status: string; failureMessages: string[] }[] }[]
}

const cliBin = path.join(repoRoot, 'dist', 'cli', 'main.js')

// The two runs kill different servers: side by side.
describe.concurrent('a server that dies mid-run', () => {
  test.each([
    ['the plugin started', []],
    ['`pgrig run` started', [process.execPath, cliBin, 'run', '--']],
  ])(
    'that %s is named in one line, and the remaining tests fail fast with it',
    // One retry: seen once in three clean-clone runs (2026-12-07), the killer's own failure lacked the
    // line (its ECONNRESET came before the watch saw the death); every assertion still holds per try.
    { timeout: 180_000, retry: 1 },
    async (_, launcher) => {
      const dir = fixtureProject('pool-end-project')
      const json = path.join(dir, 'report.json')
      try {
        const started = performance.now()
        const result = await runIn(
          dir,
          [
            ...launcher,
            process.execPath,
            vitestBin,
            'run',
            '--reporter=default',
            '--reporter=json',
            `--outputFile.json=${json}`,
          ],
          { FIXTURE_DIE: '1' },
        )
        const elapsed = performance.now() - started
        const context = result.output.slice(-6000)
        expect(result.code, context).not.toBe(0)
        const killed = result.records.find((r) => r.test === 'killed')
        expect(killed, context).toBeDefined()
        const line = new RegExp(
          `PostgreSQL server \\S+ \\(pid ${killed!.pid}, port \\d+\\) died during the test run \\(killed by SIGKILL\\); the remaining tests cannot reach it; log (\\S+-died\\.log) ends: "`,
        )
        const named = line.exec(result.output)
        expect(named, context).not.toBeNull()
        expect(fs.existsSync(named![1]!)).toBe(true)
        fs.rmSync(path.dirname(named![1]!), { recursive: true, force: true })
        // The tests after the kill fail with that line, not with a wall of connection errors: only
        // the test that killed it and the one running beside it may see their sockets go.
        const tests = (JSON.parse(fs.readFileSync(json, 'utf8')) as JsonReport).testResults.flatMap(
          (file) => file.assertionResults,
        )
        const failed = tests.filter((t) => t.status === 'failed')
        const withLine = failed.filter((t) => t.failureMessages.some((m) => line.test(m)))
        expect(failed.length, context).toBeGreaterThanOrEqual(40)
        expect(failed.length - withLine.length, context).toBeLessThanOrEqual(2)
        // The test that killed it gets the line beside its own connection error.
        const killer = failed.find((t) => t.title === 'first 5')
        expect(
          killer?.failureMessages.some((m) => line.test(m)),
          JSON.stringify(killer),
        ).toBe(true)
        if (launcher.length > 0) {
          // `pgrig run`, the server's parent, says so too, as it happens.
          const told = new RegExp(
            `pgrig: PostgreSQL server main \\(pid ${killed!.pid}, port \\d+\\) died during the command \\(killed by SIGKILL\\); nothing the command runs can reach it any more; log (\\S+-died\\.log)`,
          ).exec(result.output)
          expect(told, context).not.toBeNull()
          fs.rmSync(path.dirname(told![1]!), { recursive: true, force: true })
          // One copy of the log: the test process names the one `pgrig run` made.
          expect(told![1], context).toBe(named![1])
        }
        expect(result.output).not.toMatch(/could not clone the template/)
        expect(result.output).not.toMatch(/broker-client\.(js|ts):\d+/)
        expect(elapsed).toBeLessThan(120_000)
      } finally {
        fs.rmSync(dir, { recursive: true, force: true })
      }
    },
  )
})

const exec = promisify(execFile)
const CLI = path.join(repoRoot, 'dist', 'cli', 'main.js')
const cli = async (args: string[]) => {
  try {
    const { stdout, stderr } = await exec(process.execPath, [CLI, ...args])
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

describe('a kept database', () => {
  test('stays reachable after the run on a server that `pgrig down` stops', async () => {
    const dir = fixtureProject('pool-end-project')
    let runId: string | undefined
    try {
      const result = await runIn(dir, [process.execPath, vitestBin, 'run'], { FIXTURE_KEEP: '1' })
      expect(result.code, result.output).toBe(1)
      const kept =
        /pgrig: kept database (pgrig_\w+) of failed test "leaves evidence and fails": (postgres(?:ql)?:\/\/\S+) \(its server (\S+) stays up after the run; stop it with: npx pgrig down (\S+)\)/.exec(
          result.output,
        )
      expect(kept, result.output).not.toBeNull()
      const [, database, redacted, name, downName] = kept as unknown as string[]
      expect(downName).toBe(name)
      // The run is over (its process gone), yet the server is listed and answers on the printed URL.
      const run = listRuns().find((r) => r.servers.some((s) => s.name === name))
      expect(run?.detached).toBe(true)
      runId = run!.runId
      const server = run!.servers[0]!
      expect(isAlive(server.pid!)).toBe(true)
      const status = JSON.parse((await cli(['status', '--json'])).stdout) as {
        servers: { name: string; alive: boolean; detached: boolean }[]
      }
      expect(status.servers.find((s) => s.name === name)).toMatchObject({ alive: true, detached: true })
      const client = new pg.Client({
        connectionString: redacted!.replace(':***@', `:${encodeURIComponent(server.password)}@`),
      })
      await client.connect()
      try {
        const { rows } = await client.query('select current_database() as db, label from items')
        expect(rows).toEqual([{ db: database, label: 'evidence' }])
      } finally {
        await client.end()
      }
      const down = await cli(['down', name!])
      expect(down.code, down.stderr).toBe(0)
      expect(await waitUntil(() => !isAlive(server.pid!), 10_000)).toBe(true)
      expect(listRuns().find((r) => r.runId === runId)).toBeUndefined()
      runId = undefined
    } finally {
      if (runId) await teardownRun(runId)
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 120_000)

  test('a run that keeps nothing stops its server', async () => {
    const dir = fixtureProject('pool-end-project')
    try {
      const before = new Set(listRuns().map((r) => r.runId))
      const result = await runIn(dir, [process.execPath, vitestBin, 'run', 'one.spec.ts'], {
        FIXTURE_TESTS_PER_FILE: '2',
      })
      expect(result.code, result.output).toBe(0)
      // The reapers of the run's folders finish a moment after Vitest exits.
      const left = () => listRuns().filter((r) => !before.has(r.runId))
      await waitUntil(() => left().length === 0, 10_000, 50)
      expect(left()).toEqual([])
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 120_000)
})
