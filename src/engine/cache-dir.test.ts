import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, expect, test } from 'vitest'
import { cacheDir, engineCacheDir, ensureWorldReadableDir } from './cache-dir.js'

const saved = { PGRIG_CACHE_DIR: process.env.PGRIG_CACHE_DIR, XDG_CACHE_HOME: process.env.XDG_CACHE_HOME }
afterEach(() => {
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[key]
    else process.env[key] = value
  }
})

test('PGRIG_CACHE_DIR wins', () => {
  process.env.PGRIG_CACHE_DIR = '/srv/pgrig-cache'
  expect(cacheDir()).toBe('/srv/pgrig-cache')
  expect(engineCacheDir('17.6.0-beta.15')).toBe('/srv/pgrig-cache/engines/17.6.0-beta.15')
})

test('root gets a system-wide cache the unprivileged server user can reach', () => {
  delete process.env.PGRIG_CACHE_DIR
  process.env.XDG_CACHE_HOME = '/root/.xdg'
  const isRoot = process.getuid?.() === 0
  expect(cacheDir()).toBe(isRoot ? '/var/cache/pgrig' : '/root/.xdg/pgrig')
})

test('new cache folders are 0755 whatever the umask', async () => {
  const base = await mkdtemp(join(tmpdir(), 'pgrig-cache-dir-'))
  const old = process.umask(0o077)
  try {
    await ensureWorldReadableDir(join(base, 'a', 'engines'))
  } finally {
    process.umask(old)
  }
  expect((await stat(join(base, 'a'))).mode & 0o777).toBe(0o755)
  expect((await stat(join(base, 'a', 'engines'))).mode & 0o777).toBe(0o755)
  await rm(base, { recursive: true, force: true })
})

test('a cache folder under /proc fails at once instead of spinning (Node recursive mkdir loops there)', async () => {
  const started = Date.now()
  await expect(ensureWorldReadableDir('/proc/nope/engines')).rejects.toThrow(/ENOENT/)
  expect(Date.now() - started).toBeLessThan(5_000)
})
