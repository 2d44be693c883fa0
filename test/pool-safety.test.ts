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
