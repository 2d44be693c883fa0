import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, expect, test } from 'vitest'
import { cacheEntries } from '../src/servers/tmpfs-cache.js'
import { CLI, pgrig } from './support/cli.js'
import { privateRunRoot } from './support/run-root.js'

/**
 * What pgrig keeps on /dev/shm across many runs with varying options stays under the documented
 * cap (docs/speed.md, "Templates on tmpfs"): templates and spares under PGRIG_TMPFS_CACHE_MB plus
 * the newest template with its spares, and besides them only the data dirs of servers running now.
 * Every run's own folder goes when it ends (stopped, `pgrig down`, or killed and reaped), and
 * `pgrig cache clean` takes the rest back to nothing. This file's tmpfs, run root and disk cache
 * are its own, so the figures are its runs' alone.
 */
privateRunRoot('shm-cap')
const uid = process.getuid?.() ?? 0
const MB = 1024 * 1024
const CAP_MB = 200
const SHAPES = 7

const tmpfsBase = fs.mkdtempSync(
  path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'pgrig-test-shm-cap-'),
)
fs.chmodSync(tmpfsBase, 0o755)
const diskCache = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-test-shm-cap-cache-'))
fs.chmodSync(diskCache, 0o755)
Object.assign(process.env, {
  PGRIG_TMPFS_DIR: tmpfsBase,
  PGRIG_CACHE_DIR: diskCache,
  PGRIG_TMPFS_CACHE_MB: String(CAP_MB),
  // Runs follow one another here: nothing else copies these templates while one is pruned.
  PGRIG_TMPFS_CACHE_PROTECT_S: '0',
})
const tmpfsRoot = path.join(tmpfsBase, `pgrig-${uid}`)
const templates = path.join(tmpfsRoot, 'templates')

afterAll(async () => {
  await waitForBackgroundCopies()
  fs.rmSync(tmpfsBase, { recursive: true, force: true })
  fs.rmSync(diskCache, { recursive: true, force: true })
})

/** Bytes this file's runs hold on the tmpfs (blocks in use, as the tmpfs counts them). */
function bytesUnder(dir: string): number {
  if (!fs.existsSync(dir)) return 0
  return Number(execFileSync('du', ['-s', '--block-size=1', dir], { encoding: 'utf8' }).split('\t')[0])
}

/** The tmpfs root's folders other than the templates: one per run that has a server on tmpfs. */
const runFolders = () =>
  fs.existsSync(tmpfsRoot) ? fs.readdirSync(tmpfsRoot).filter((n) => n !== 'templates') : []

/** Unfinished copies of a template or a spare (detached `cp -a` that outlive the start). */
function copiesInFlight(): string[] {
  if (!fs.existsSync(templates)) return []
  return fs.readdirSync(templates).flatMap((name) => {
    if (name.includes('.tmp-') || name.startsWith('.build-')) return [name]
    if (!name.endsWith('.spares')) return []
    return fs
      .readdirSync(path.join(templates, name))
      .filter((entry) => entry.startsWith('.tmp-'))
      .map((entry) => `${name}/${entry}`)
  })
}

async function waitForBackgroundCopies(): Promise<void> {
  for (let i = 0; i < 300 && copiesInFlight().length > 0; i++) await sleep(100)
}

let largestEntry = 0
let peak = { total: 0, templates: 0 }
const overs: string[] = []

/** Checks the tmpfs now: the templates part under the cap plus the newest entry, run folders only for live servers. */
function sample(when: string, liveServers: number): void {
  const entries = cacheEntries(tmpfsRoot)
  largestEntry = Math.max(largestEntry, ...entries.map((e) => e.bytes))
  const inTemplates = bytesUnder(templates)
  const total = bytesUnder(tmpfsBase)
  peak = { total: Math.max(peak.total, total), templates: Math.max(peak.templates, inTemplates) }
  // A copy in flight counts: the cap holds for what is on the tmpfs, not only for finished entries.
  if (inTemplates > CAP_MB * MB + largestEntry)
    overs.push(`${when}: templates ${(inTemplates / MB).toFixed(0)} MB`)
  // A live server's data dir: a copy of a template plus what it wrote (WAL segments: 16 MB each).
  const runs = total - inTemplates
  if (runs > liveServers * (largestEntry + 64 * MB))
    overs.push(`${when}: ${(runs / MB).toFixed(0)} MB in run folders with ${liveServers} server(s) up`)
}

async function expectRunFoldersGone(when: string): Promise<void> {
  // A killed run's reaper notices its owner's death within a second or two, then stops and removes.
  for (let i = 0; i < 300 && runFolders().length > 0; i++) await sleep(100)
  expect(runFolders(), `run folders left on the tmpfs after ${when}`).toEqual([])
}

type Variant = (i: number, user: string) => Promise<void>

/**
 * A library user's process: `startServer()`, then `stop()` once told to, then exit. The process's
 * own run folder stays until it exits (for its next start); its reaper removes it then.
 */
async function libraryRun(i: number, user: string, tmpfs: boolean): Promise<void> {
  const options = JSON.stringify({ name: `shm${i}`, user, tmpfs, quiet: true })
  const script = `import { startServer } from ${JSON.stringify(path.resolve('dist/index.js'))}
const server = await startServer(${options})
process.stdout.write('up\\n')
process.stdin.once('data', async () => { await server.stop(); process.exit(0) })`
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve())
    child.once('exit', (code) => reject(new Error(`the library run exited ${code} before its server was up`)))
  })
  sample(`run ${i} up`, tmpfs ? 1 : 0)
  child.stdin.write('stop\n')
  expect(await exited).toBe(0)
}

const VARIANTS: Record<string, Variant> = {
  'library start and stop': (i, user) => libraryRun(i, user, true),
  'library, data dir on disk (tmpfs: false)': (i, user) => libraryRun(i, user, false),
  'pgrig up, then pgrig down': async (i, user) => {
    const up = await pgrig(['up', '--name', `shm${i}`, '--user', user, '--json'])
    expect(up.code, up.stderr).toBe(0)
    sample(`run ${i} up`, 1)
    const down = await pgrig(['down', `shm${i}`])
    expect(down.code, down.stderr).toBe(0)
  },
  'pgrig run --keep (databases kept), then pgrig down': async (i, user) => {
    const run = await pgrig(['run', '--keep', '--name', `shm${i}`, '--user', user, '--', 'true'])
    expect(run.code, run.stderr).toBe(0)
    sample(`run ${i} kept`, 1)
    const down = await pgrig(['down', `shm${i}`])
    expect(down.code, down.stderr).toBe(0)
  },
  'pgrig run killed (SIGKILL) while its command runs': async (i, user) => {
    const child = spawn(
      process.execPath,
      [CLI, 'run', '--name', `shm${i}`, '--user', user, '--', 'sleep', '60'],
      {
        stdio: 'ignore',
      },
    )
    // Up once its server's data dir is on the tmpfs and the command is running.
    for (
      let t = 0;
      t < 600 && !runFolders().some((r) => fs.existsSync(path.join(tmpfsRoot, r, `shm${i}`)));
      t++
    )
      await sleep(100)
    await sleep(300)
    sample(`run ${i} up`, 1)
    child.kill('SIGKILL')
    await new Promise((resolve) => child.once('exit', resolve))
  },
  'pgrig run killed (SIGKILL) in the middle of a template build': async (i) => {
    // A user no run has used yet: a new template, built on the tmpfs.
    const child = spawn(
      process.execPath,
      [CLI, 'run', '--name', `shm${i}`, '--user', `fresh${i}`, '--', 'true'],
      {
        stdio: 'ignore',
      },
    )
    const building = () =>
      fs.existsSync(templates) && fs.readdirSync(templates).some((n) => n.startsWith('.build-'))
    for (let t = 0; t < 600 && !building(); t++) await sleep(50)
    expect(building(), 'a template build on the tmpfs').toBe(true)
    await sleep(200)
    sample(`run ${i} building`, 1)
    child.kill('SIGKILL')
    await new Promise((resolve) => child.once('exit', resolve))
    for (let t = 0; t < 300 && building(); t++) await sleep(100)
  },
}

async function manyRuns(runs: number): Promise<void> {
  const names = Object.keys(VARIANTS)
  for (let i = 0; i < runs; i++) {
    const variant = names[i % names.length]!
    // Shapes change the template (a new user is a new template): more shapes than fit under the cap.
    const user = `app${(i * 3) % SHAPES}`
    await VARIANTS[variant]!(i, user)
    await expectRunFoldersGone(`run ${i} (${variant})`)
    sample(`after run ${i} (${variant})`, 0)
  }
  await waitForBackgroundCopies()
  sample('at the end', 0)
  expect(overs).toEqual([])
  expect(largestEntry).toBeGreaterThan(0)
  // Nothing left half-made, no spares without their template.
  expect(copiesInFlight()).toEqual([])
  const left = fs.readdirSync(templates)
  expect(left.filter((n) => n.endsWith('.spares') && !left.includes(n.slice(0, -'.spares'.length)))).toEqual(
    [],
  )

  const clean = await pgrig(['cache', 'clean'])
  expect(clean.code, clean.stderr).toBe(0)
  // Back to where the file started: nothing of these runs on the tmpfs.
  expect(runFolders()).toEqual([])
  expect(bytesUnder(tmpfsBase)).toBe(0)
  console.log(
    `${runs} runs: peak ${(peak.total / MB).toFixed(0)} MB on the tmpfs (templates ${(peak.templates / MB).toFixed(0)} MB; cap ${CAP_MB} MB + one entry of ${(largestEntry / MB).toFixed(0)} MB)`,
  )
}

test(
  'runs of every kind (tmpfs or not, up/down, kept, killed) stay under the tmpfs cap and leave nothing',
  () => manyRuns(Object.keys(VARIANTS).length),
  300_000,
)

test.runIf(process.env.PGRIG_SLOW === '1')(
  '50 runs with varying options stay under the tmpfs cap and return to baseline',
  () => manyRuns(50),
  1_800_000,
)
