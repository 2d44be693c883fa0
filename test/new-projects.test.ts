import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, test } from 'vitest'
import { fixtureProject, packedTarball, repoRoot, runIn } from './support/fixture-project.js'
import { privateRunRoot } from './support/run-root.js'

// A new user's first project, per tool: migrations as the tool lays them out, run by the project's
// own Vitest through pgrig/vitest, nothing fetched (Kysely and drizzle-orm are this repo's devDependencies).
privateRunRoot('new-projects')

const dirs: string[] = []
afterAll(() => dirs.forEach((dir) => fs.rmSync(dir, { recursive: true, force: true })))

const slowTest = test.runIf(process.env.PGRIG_SLOW === '1')
const vitest = path.join(repoRoot, 'node_modules', 'vitest', 'vitest.mjs')

const jest = path.join(repoRoot, 'node_modules', 'jest', 'bin', 'jest.js')

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

describe('CommonJS projects load the CommonJS build, unchanged', () => {
  test('ts-jest default preset (CommonJS) with jest.mock, and its ESM preset, both run', async () => {
    const [commonjs, esm] = ['ts-jest-project', 'ts-jest-esm-project'].map((name) => {
      const dir = fixtureProject(name)
      dirs.push(dir)
      return dir
    })
    const [cjs, ran] = await Promise.all([
      runIn(commonjs!, [process.execPath, jest]),
      runIn(esm!, [process.execPath, '--experimental-vm-modules', jest]),
    ])
    expect(cjs.code, cjs.output).toBe(0)
    expect(cjs.output).toMatch(/Tests:\s+2 passed/)
    expect(ran.code, ran.output).toBe(0)
    expect(ran.output).toMatch(/Tests:\s+1 passed/)
  }, 150_000)

  test('babel-jest (preset-env + preset-typescript, CommonJS) with jest.mock runs', async () => {
    const dir = fixtureProject('babel-jest-project')
    dirs.push(dir)
    const ran = await runIn(dir, [process.execPath, jest])
    expect(ran.code, ran.output).toBe(0)
    expect(ran.output).toMatch(/Tests:\s+2 passed/)
  }, 120_000)

  test('a Vitest project without "type": "module" (vitest.config.ts read as CommonJS) runs', async () => {
    const dir = fixtureProject('commonjs-vitest-project')
    dirs.push(dir)
    const ran = await runIn(dir, [process.execPath, vitest, 'run'])
    expect(ran.code, ran.output).toBe(0)
    expect(ran.output).toMatch(/Tests\s+1 passed/)
  }, 60_000)
})

// Installs from the npm registry (Vitest 3 is not among this repo's packages): `npm run test:slow`.
slowTest(
  'Vitest 3: npm refuses the install for the peer range; forced, pgrig/vitest refuses in one line',
  async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-vitest3-'))
    dirs.push(dir)
    fs.writeFileSync(
      path.join(dir, 'package.json'),
      JSON.stringify({ name: 'v3', private: true, type: 'module' }),
    )
    fs.cpSync(
      path.join(repoRoot, 'test', 'fixtures', 'commonjs-vitest-project', 'vitest.config.ts'),
      path.join(dir, 'vitest.config.ts'),
    )
    fs.cpSync(
      path.join(repoRoot, 'test', 'fixtures', 'commonjs-vitest-project', 'users.test.ts'),
      path.join(dir, 'users.test.ts'),
    )
    const install = (...flags: string[]) =>
      runIn(dir, ['npm', 'install', '--no-audit', '--no-fund', ...flags, 'vitest@3', 'pg', packedTarball()])
    const refused = await install()
    expect(refused.code, refused.output).not.toBe(0)
    expect(refused.output).toMatch(/peerOptional vitest@"\^4\.0\.0 \|\| \^5\.0\.0" from pgrig/)
    const forced = await install('--legacy-peer-deps')
    expect(forced.code, forced.output).toBe(0)
    const ran = await runIn(dir, [
      process.execPath,
      path.join(dir, 'node_modules', 'vitest', 'vitest.mjs'),
      'run',
    ])
    expect(ran.code, ran.output).not.toBe(0)
    expect(ran.output).toMatch(/pgrig\/vitest needs Vitest 4 or 5, found 3\.\d+\.\d+: npm i -D vitest@5/)
    expect(ran.output).not.toMatch(/internal state|^\s+at /m)
  },
  180_000,
)

// Installs Vitest 5 from the npm registry (this repo's own is Vitest 4): about 15 s with a warm npm cache.
test('Vitest 5: installs from the packed tarball with no peer or prepare warning, and runs green', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-vitest5-'))
  dirs.push(dir)
  fs.writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: 'v5', private: true, type: 'module' }),
  )
  for (const file of ['vitest.config.ts', 'users.test.ts'])
    fs.cpSync(path.join(repoRoot, 'test', 'fixtures', 'commonjs-vitest-project', file), path.join(dir, file))
  const install = await runIn(dir, [
    'npm',
    'install',
    '--no-audit',
    '--no-fund',
    'vitest@5',
    'pg',
    packedTarball(),
  ])
  expect(install.code, install.output).toBe(0)
  expect(install.output).not.toMatch(/ERESOLVE|prepare: npm run build/)
  const ran = await runIn(dir, [
    process.execPath,
    path.join(dir, 'node_modules', 'vitest', 'vitest.mjs'),
    'run',
  ])
  expect(ran.code, ran.output).toBe(0)
  expect(ran.output).toMatch(/Tests\s+1 passed/)
}, 180_000)
