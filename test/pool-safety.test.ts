import fs from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
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
    }
  }

  test('dropping each used clone never reaches a closing socket (3 runs × 100 tests)', async () => {
    await runs(Number(process.env.POOLSAFETY_RUNS ?? 3), 25)
  }, 240_000)

  slowTest(
    '20 runs × 400 tests exit 0 with no Errors',
    async () => {
      await runs(20, 100)
    },
    1_800_000,
  )
})

interface JsonReport {
  testResults: { assertionResults: { title: string; status: string; failureMessages: string[] }[] }[]
}

describe('a server that dies mid-run', () => {
  test('is named in one line, and the remaining tests fail fast with it', async () => {
    const dir = fixtureProject('pool-end-project')
    const json = path.join(dir, 'report.json')
    try {
      const started = performance.now()
      const result = await runIn(
        dir,
        [
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
      fs.rmSync(named![1]!, { force: true })
      // The tests after the kill fail with that line, not with a wall of connection errors: only
      // the test that killed it and the one running beside it may see their sockets go.
      const tests = (JSON.parse(fs.readFileSync(json, 'utf8')) as JsonReport).testResults.flatMap(
        (file) => file.assertionResults,
      )
      const failed = tests.filter((t) => t.status === 'failed')
      const withLine = failed.filter((t) => t.failureMessages.some((m) => line.test(m)))
      expect(failed.length, context).toBeGreaterThanOrEqual(40)
      expect(failed.length - withLine.length, context).toBeLessThanOrEqual(2)
      expect(result.output).not.toMatch(/could not clone the template/)
      expect(result.output).not.toMatch(/broker-client\.(js|ts):\d+/)
      expect(elapsed).toBeLessThan(120_000)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 180_000)
})
