import fs from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { fixtureProject, repoRoot, runIn } from './support/fixture-project.js'
import { privateRunRoot } from './support/run-root.js'

// A new user's first project, per tool: migrations as the tool lays them out, run by the project's
// own Vitest through pgrig/vitest, nothing fetched (Kysely and drizzle-orm are this repo's devDependencies).
privateRunRoot('new-projects')

const dirs: string[] = []
afterAll(() => dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })))

const slowTest = test.runIf(process.env.PGRIG_SLOW === '1')
const vitest = path.join(repoRoot, 'node_modules', 'vitest', 'vitest.mjs')

async function runProject(name: string) {
  const dir = fixtureProject(name)
  dirs.push(dir)
  const ran = await runIn(dir, [process.execPath, vitest, 'run'])
  expect(ran.code, ran.output).toBe(0)
  expect(ran.output).toMatch(/Tests\s+1 passed/)
}

describe('fresh projects run their own tests on pgrig/vitest', () => {
  test('Kysely with .ts file migrations (FileMigrationProvider) in a function migration', async () => {
    await runProject('kysely-project')
  }, 120_000)

  slowTest(
    'the Prisma layout (prisma/migrations/<ts>_<name>/migration.sql) without the Prisma CLI',
    async () => {
      await runProject('prisma-project')
    },
    120_000,
  )

  slowTest(
    'Drizzle Kit’s journal, queried through drizzle-orm',
    async () => {
      await runProject('drizzle-project')
    },
    120_000,
  )
})
