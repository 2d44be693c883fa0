import { spawn } from 'node:child_process'
import { afterAll, expect, test } from 'vitest'
import { isAlive } from '../src/servers/process-alive.js'
import { privateRunRoot } from './support/run-root.js'
import { CLI, pgrig } from './support/cli.js'

// `pgrig down NAME` ends once its server's postmaster has exited, and the pid is gone altogether
// (`kill -0` fails, as the shared CLI contract checks): a server of `pgrig up` keeps a parent that
// reaps it at once, where an orphan waited for an init that reaps every 2 s (issue 23).
privateRunRoot('down-speed')

function signalable(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

afterAll(async () => {
  await pgrig(['down', '--all'])
})

test('pgrig down of a detached server exits within 1 s of its postmaster exiting, with it stopped', async () => {
  const up = await pgrig(['up', '--json', '--name', 'quick'])
  expect(up.code, up.stderr).toBe(0)
  const pid = (JSON.parse(up.stdout) as { servers: { pid: number }[] }).servers[0]!.pid
  expect(isAlive(pid)).toBe(true)
  const down = spawn(process.execPath, [CLI, 'down', 'quick'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  down.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
  let exitedAt: number | undefined
  const watch = setInterval(() => {
    if (exitedAt === undefined && !isAlive(pid)) exitedAt = Date.now()
  }, 2)
  const code = await new Promise<number | null>((resolve) => down.once('exit', resolve))
  const doneAt = Date.now()
  clearInterval(watch)
  expect(code, stderr).toBe(0)
  expect(stderr).toBe('pgrig: stopped quick\n')
  // never reported gone while it still runs
  expect(isAlive(pid)).toBe(false)
  expect(exitedAt, 'the postmaster exited before down did').toBeDefined()
  expect(doneAt - exitedAt!).toBeLessThan(1_000)
  // not a zombie waiting for init either: within 100 ms of down, kill(pid, 0) fails
  await new Promise((resolve) => setTimeout(resolve, 100))
  expect(signalable(pid), `pid ${pid} is still there (a zombie nobody reaps) after down`).toBe(false)
}, 60_000)
