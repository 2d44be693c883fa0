import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { resolveEngine } from './index.js'
import { findPsql, parsePostgresVersion } from './system.js'

function postgresVersion(binDir: string): string {
  const result = spawnSync(join(binDir, 'postgres'), ['--version'], { encoding: 'utf8' })
  if (result.error) throw result.error
  if (result.status !== 0) throw new Error(`postgres --version exited ${result.status}: ${result.stderr}`)
  return result.stdout.trim()
}

test('parses what postgres --version prints', () => {
  expect(parsePostgresVersion('postgres (PostgreSQL) 15.18 (Debian 15.18-1.pgdg120+1)\n')).toEqual({
    version: '15.18',
    major: 15,
  })
  expect(parsePostgresVersion('postgres (PostgreSQL) 18.4')).toEqual({ version: '18.4', major: 18 })
  expect(parsePostgresVersion('postgres (PostgreSQL) 18beta1')).toEqual({ version: '18beta1', major: 18 })
  expect(parsePostgresVersion('something else')).toBeUndefined()
})

test("finds Debian's PostgreSQL 15", async () => {
  const engine = await resolveEngine({ engine: 'system', version: '15' })
  expect(engine).toMatchObject({ kind: 'system', major: 15, binDir: '/usr/lib/postgresql/15/bin' })
  expect(postgresVersion(engine.binDir)).toMatch(/^postgres \(PostgreSQL\) 15\.\d+/)
  expect(postgresVersion(engine.binDir)).toContain(engine.version)

  const sameMinor = await resolveEngine({ engine: 'system', version: engine.version })
  expect(sameMinor.binDir).toBe(engine.binDir)
})

test('no version asked for means the newest installed', async () => {
  const engine = await resolveEngine({ engine: 'system', version: undefined })
  expect(engine.major).toBeGreaterThanOrEqual(15)
})

test('a major that is not installed says how to get it', async () => {
  await expect(resolveEngine({ engine: 'system', version: '42' })).rejects.toMatchObject({
    code: 'E_ENGINE_NOT_FOUND',
    message: expect.stringMatching(/apt-get install postgresql-42.*engine embedded/),
  })
})

test('finds a psql', () => {
  const psql = findPsql()
  expect(psql).toBeDefined()
  expect(existsSync(psql!)).toBe(true)
})
