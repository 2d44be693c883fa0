import { spawnSync } from 'node:child_process'
import { chmod, cp, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { embeddedEngine, ensureReachable, listInstalledEngines } from './embedded.js'
import { packageRootOf } from './package-files.js'
import { isReachableBy } from './reachable.js'
import type { Engine } from './types.js'

const nobody = { name: 'nobody', uid: 65534, gid: 65534 }

function runAs(binDir: string, who: { uid: number; gid: number }) {
  return spawnSync(join(binDir, 'postgres'), ['--version'], { encoding: 'utf8', uid: who.uid, gid: who.gid })
}

describe.skipIf(process.getuid?.() !== 0)('as root, for the unprivileged server user', () => {
  let work: string
  let cache: string
  let shipped: Engine
  let hidden: Engine

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'pgrig-private-'))
    cache = await mkdtemp(join(tmpdir(), 'pgrig-reachable-cache-'))
    await chmod(cache, 0o755)
    process.env.PGRIG_CACHE_DIR = cache
    shipped = (await listInstalledEngines()).find((engine) => engine.binDir.includes('node_modules'))!
    // Like a project under /root: the package is fine, a parent folder is 0700.
    await chmod(work, 0o700)
    const root = join(work, 'project', 'node_modules', 'pkg')
    await cp(packageRootOf(shipped.binDir), root, { recursive: true, verbatimSymlinks: true })
    hidden = embeddedEngine(root, shipped.packageVersion!)
  })

  afterAll(async () => {
    await rm(work, { recursive: true, force: true })
    await rm(cache, { recursive: true, force: true })
  })

  test('an engine under a 0700 folder is copied into the cache', async () => {
    expect(await isReachableBy(hidden.binDir, nobody)).toBe(false)
    expect(runAs(hidden.binDir, nobody).error).toMatchObject({ code: 'EACCES' })

    const reachable = await ensureReachable(hidden, nobody)
    expect(reachable.binDir).toBe(join(cache, 'engines', shipped.packageVersion!, 'native', 'bin'))
    expect(reachable).toMatchObject({ kind: 'embedded', version: shipped.version, major: shipped.major })
    const result = runAs(reachable.binDir, nobody)
    expect(result.status).toBe(0)
    expect(result.stdout.trim()).toBe(`postgres (PostgreSQL) ${shipped.version}`)

    expect(await ensureReachable(hidden, nobody)).toEqual(reachable)
  })

  test('a reachable engine, or no separate server user, changes nothing', async () => {
    expect(await ensureReachable(hidden, undefined)).toBe(hidden)
    if (await isReachableBy(shipped.binDir, nobody))
      expect(await ensureReachable(shipped, nobody)).toBe(shipped)
  })
})
