import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { startServer } from './start-server.js'
import { cacheEntries, pruneCache, sweepLeftovers } from './tmpfs-cache.js'
import { privateRunRoot } from '../../test/support/run-root.js'

privateRunRoot('tmpfs-cache')

const slowTest = test.runIf(process.env.PGRIG_SLOW === '1')
const MB = 1024 * 1024
const made: string[] = []
afterAll(() => {
  for (const dir of made) fs.rmSync(dir, { recursive: true, force: true })
})

function tempRoot(): string {
  const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir()
  const dir = fs.mkdtempSync(path.join(base, 'pgrig-test-tmpfs-cache-'))
  fs.chmodSync(dir, 0o755)
  made.push(dir)
  return dir
}

/** A template folder of `mb` MB (and spares of the same size) last used `ageMs` ago. */
function fakeTemplate(root: string, name: string, mb: number, ageMs: number): void {
  const dir = path.join(root, 'templates', name)
  fs.mkdirSync(path.join(dir, 'base'), { recursive: true })
  fs.writeFileSync(path.join(dir, 'base', 'data'), Buffer.alloc(mb * MB))
  fs.mkdirSync(`${dir}.spares/one`, { recursive: true })
  fs.writeFileSync(`${dir}.spares/one/data`, Buffer.alloc(mb * MB))
  const when = new Date(Date.now() - ageMs)
  fs.utimesSync(dir, when, when)
}

test('prune removes stale templates, then the least recently used past the cap; kept and recent ones stay', () => {
  const root = tempRoot()
  const minute = 60_000
  fakeTemplate(root, '18.4-old', 1, 10 * 24 * 60 * minute)
  fakeTemplate(root, '18.4-lru', 1, 60 * minute)
  fakeTemplate(root, '18.4-kept', 1, 50 * minute)
  fakeTemplate(root, '18.4-mid', 1, 40 * minute)
  fakeTemplate(root, '18.4-recent', 1, minute / 2)
  expect(cacheEntries(root).map((e) => e.name)).toEqual([
    '18.4-old',
    '18.4-lru',
    '18.4-kept',
    '18.4-mid',
    '18.4-recent',
  ])
  expect(cacheEntries(root)[0]!.bytes).toBe(2 * MB)
  expect(cacheEntries(root)[0]!.templateBytes).toBe(MB)
  // Each counts at its full size, with the two spares it will have again: 3 MB.
  const { removed, kept } = pruneCache(root, {
    keep: '18.4-kept',
    limits: { maxBytes: 9 * MB, maxAgeMs: 7 * 24 * 60 * minute, protectMs: minute },
  })
  expect(removed.map((e) => e.name)).toEqual(['18.4-old', '18.4-lru'])
  expect(kept.map((e) => e.name)).toEqual(['18.4-kept', '18.4-mid', '18.4-recent'])
  expect(fs.readdirSync(path.join(root, 'templates')).sort()).toEqual([
    '18.4-kept',
    '18.4-kept.spares',
    '18.4-mid',
    '18.4-mid.spares',
    '18.4-recent',
    '18.4-recent.spares',
  ])
})

test('prune sweeps what no entry counts: spares without a template, copies and builds of killed processes once stale', () => {
  const root = tempRoot()
  const templates = path.join(root, 'templates')
  fakeTemplate(root, '18.4-live', 1, 0)
  const made = (name: string, ageMs: number) => {
    fs.mkdirSync(path.join(templates, name, 'base'), { recursive: true })
    fs.writeFileSync(path.join(templates, name, 'base', 'data'), Buffer.alloc(MB))
    const when = new Date(Date.now() - ageMs)
    fs.utimesSync(path.join(templates, name), when, when)
  }
  const hour = 60 * 60_000
  made('18.4-gone.spares', 0)
  made('18.4-live.tmp-0a1b2c3d', hour)
  made('18.4-other.tmp-4e5f6a7b', 1000)
  made('.build-old', hour)
  made('.build-running', 1000)
  expect(sweepLeftovers(root).sort()).toEqual(['.build-old', '18.4-gone.spares', '18.4-live.tmp-0a1b2c3d'])
  expect(fs.readdirSync(templates).sort()).toEqual([
    '.build-running',
    '18.4-live',
    '18.4-live.spares',
    '18.4-other.tmp-4e5f6a7b',
  ])
  // prune runs the sweep too
  made('18.4-gone2.spares', 0)
  pruneCache(root)
  expect(fs.existsSync(path.join(templates, '18.4-gone2.spares'))).toBe(false)
})

test('prune counts a template copy still in flight as a whole template with its spares', () => {
  const root = tempRoot()
  const minute = 60_000
  fakeTemplate(root, '18.4-a', 1, 20 * minute)
  fakeTemplate(root, '18.4-b', 1, 10 * minute)
  // Another start's copy of the disk template, half done.
  fs.mkdirSync(path.join(root, 'templates', '18.4-c.tmp-00aa11bb'))
  const limits = { maxBytes: 6 * MB, maxAgeMs: 7 * 24 * 60 * minute, protectMs: 0 }
  // a and b (3 MB each at full size) fit in 6 MB alone; with c landing, a (least recently used) goes.
  expect(pruneCache(root, { keep: '18.4-d', limits }).removed.map((e) => e.name)).toEqual(['18.4-a'])
  // The copy in flight of the template being added is that template: it does not count.
  expect(pruneCache(root, { keep: '18.4-c', limits }).removed).toEqual([])
})

async function manyRuns(runs: number): Promise<void> {
  const root = tempRoot()
  const saved = { ...process.env }
  const capMb = 150
  Object.assign(process.env, {
    PGRIG_TMPFS_DIR: root,
    PGRIG_CACHE_DIR: path.join(root, 'disk'),
    PGRIG_TMPFS_CACHE_MB: String(capMb),
    PGRIG_TMPFS_CACHE_PROTECT_S: '0',
  })
  try {
    let largest = 0
    for (let i = 0; i < runs; i++) {
      // Options that change the template: a new one every run.
      const server = await startServer({
        name: `cache${i}`,
        user: `app${i}`,
        dataChecksums: i % 2 === 0,
        quiet: true,
      })
      await server.stop()
      const tmpfs = fs.readdirSync(root).find((n) => n.startsWith('pgrig-'))!
      const entries = cacheEntries(path.join(root, tmpfs))
      largest = Math.max(largest, ...entries.map((e) => e.bytes))
      const used = entries.reduce((sum, e) => sum + e.bytes, 0)
      // Pruned before each template is added: the cap plus the newest one.
      expect(used, `after run ${i + 1}`).toBeLessThanOrEqual(capMb * MB + largest)
    }
    expect(largest).toBeGreaterThan(0)
  } finally {
    process.env = saved
  }
}

test('runs with varying options stay under the tmpfs cap', () => manyRuns(3), 180_000)
slowTest('50 runs with varying options stay under the tmpfs cap', () => manyRuns(50), 1_800_000)
