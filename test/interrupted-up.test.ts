import { execFile, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, expect, test } from 'vitest'
import { postmastersUnder, waitUntil } from '../src/servers/process-alive.js'
import { privateRunRoot } from './support/run-root.js'

// `pgrig up` interrupted at random points of its startup (SIGINT, SIGTERM, SIGKILL) must leave
// nothing running, or leave it where `pgrig status` shows it and `pgrig down` stops it.
const runRoot = privateRunRoot('intr')
const tmpfsBase = fs.mkdtempSync(
  path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'pgrig-intr-'),
)
fs.chmodSync(tmpfsBase, 0o755)
process.env.PGRIG_TMPFS_DIR = tmpfsBase
afterAll(() => fs.rmSync(tmpfsBase, { recursive: true, force: true }))

const uid = process.getuid?.() ?? 0
const roots = [path.join(runRoot, `pgrig-${uid}`), path.join(tmpfsBase, `pgrig-${uid}`)]
const exec = promisify(execFile)
const CLI = path.resolve('dist/cli/main.js')

async function pgrig(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [CLI, ...args], { env: process.env })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

/** Pids of the postmasters `pgrig status` shows as running. */
async function shownPids(): Promise<Set<number>> {
  const out = await pgrig(['status', '--json'])
  expect(out.code, out.stderr).toBe(0)
  const { servers } = JSON.parse(out.stdout) as { servers: { alive: boolean; pid: number | null }[] }
  return new Set(servers.filter((s) => s.alive && s.pid !== null).map((s) => s.pid!))
}

/** Postmasters of this file's runs that `pgrig status` cannot show, once the reapers have had their time. */
async function hiddenPostmasters(): Promise<number[]> {
  let hidden: number[] = []
  const deadline = Date.now() + 20_000
  for (;;) {
    const shown = await shownPids()
    hidden = postmastersUnder(roots).filter((pid) => !shown.has(pid))
    if (hidden.length === 0 || Date.now() > deadline) return hidden
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
}

async function interruptedUps(count: number, delays: () => number): Promise<void> {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGKILL', 'SIGTERM']
  for (let i = 0; i < count; i++) {
    const sig = signals[i % signals.length]!
    const delay = delays()
    const child = spawn(process.execPath, [CLI, 'up', '--json'], {
      stdio: ['ignore', 'pipe', 'ignore'],
      env: process.env,
    })
    let stdout = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    const exited = new Promise((resolve) => child.once('close', resolve))
    await new Promise((resolve) => setTimeout(resolve, delay))
    child.kill(sig)
    await exited
    const hidden = await hiddenPostmasters()
    expect(hidden, `${sig} after ${delay} ms left postmasters status cannot show`).toEqual([])
    if (!stdout.includes('"runId"')) {
      // interrupted before it printed its servers: the run's reaper takes everything down
      await waitUntil(() => postmastersUnder(roots).length === 0, 20_000, 100)
      expect(postmastersUnder(roots), `${sig} after ${delay} ms, before up printed anything`).toEqual([])
    }
    if (postmastersUnder(roots).length > 0) {
      const down = await pgrig(['down', '--all'])
      expect(down.code, down.stderr).toBe(0)
    }
    expect(postmastersUnder(roots), `down --all after ${sig} at ${delay} ms`).toEqual([])
  }
  // The reapers of interrupted starts remove their runs' folders.
  const runFolders = () => (fs.existsSync(roots[0]!) ? fs.readdirSync(roots[0]!) : [])
  await waitUntil(() => runFolders().length === 0, 15_000, 100)
  expect(runFolders()).toEqual([])
}

const random = (from: number, to: number) => () => Math.floor(from + Math.random() * (to - from))

/** How long one warm `pgrig up` takes on this machine now (a busy machine stretches it to seconds). */
async function timedUp(): Promise<number> {
  const started = Date.now()
  const first = await pgrig(['up', '--json'])
  expect(first.code, first.stderr).toBe(0)
  const took = Date.now() - started
  expect((await pgrig(['down', '--all'])).code).toBe(0)
  return took
}

test('Ctrl-C, SIGTERM and SIGKILL in the middle of pgrig up leave no postmaster that status cannot show', async () => {
  // A warm start first (so the interrupts land in a server's start rather than a template build), and
  // its duration, so they land late in the start whatever the machine's load.
  const took = await timedUp()
  await interruptedUps(3, random(took * 0.5, took * 0.95))
}, 180_000)

test.runIf(process.env.PGRIG_SLOW === '1')(
  '50 pgrig up interrupted at random points in the first 2 s leave no postmaster that status cannot show',
  async () => {
    const took = await timedUp()
    await interruptedUps(50, random(0, Math.max(2000, took)))
  },
  1_800_000,
)
