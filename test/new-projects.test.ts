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

const jest = path.join(repoRoot, 'node_modules', 'jest', 'bin', 'jest.js')
const ESM_ONLY =
  'pgrig is an ES module and this file loads it with require() (CommonJS): add "type": "module" to package.json'

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

describe('CommonJS projects get one line saying what to change, and the change works', () => {
  test('ts-jest default preset (CommonJS) is refused; its ESM preset, as the line says, runs', async () => {
    const [commonjs, esm] = ['ts-jest-project', 'ts-jest-esm-project'].map((name) => {
      const dir = fixtureProject(name)
      dirs.push(dir)
      return dir
    })
    const [refused, ran] = await Promise.all([
      runIn(commonjs!, [process.execPath, jest]),
      runIn(esm!, [process.execPath, '--experimental-vm-modules', jest]),
    ])
    expect(refused.code, refused.output).not.toBe(0)
    expect(refused.output).toContain(ESM_ONLY)
    expect(refused.output).not.toMatch(/Cannot find module 'pgrig|Package subpath|^\s+at /m)
    expect(ran.code, ran.output).toBe(0)
    expect(ran.output).toMatch(/Tests:\s+1 passed/)
  }, 150_000)

  test('vitest.config.ts in a package without "type": "module" is refused in one line', async () => {
    const dir = fixtureProject('commonjs-vitest-project')
    dirs.push(dir)
    const ran = await runIn(dir, [process.execPath, vitest, 'run'])
    expect(ran.code, ran.output).not.toBe(0)
    expect(ran.output).toContain(ESM_ONLY)
    expect(ran.output).not.toMatch(/^\s+at /m)
  }, 60_000)
})
