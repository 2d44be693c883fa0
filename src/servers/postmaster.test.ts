import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { waitExited, waitReady } from './postmaster.js'
import { isAlive, signal } from './process-alive.js'

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-postmaster-'))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

test('a startup timeout says what it waited for, how long, and that the log is empty, in one line', async () => {
  // A "postmaster" that never listens and never writes its log: what a start looks like at startupTimeout 1.
  const child = spawn('sleep', ['30'], { stdio: 'ignore' })
  const logFile = path.join(dir, 'postgres.log')
  fs.writeFileSync(logFile, '')
  try {
    const error = await waitReady({
      child,
      socketDir: path.join(dir, 'socket'),
      port: 5999,
      user: 'postgres',
      logFile,
      timeoutMs: 1,
      label: 'main',
    }).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'E_STARTUP_TIMEOUT' })
    const message = (error as Error).message
    expect(message).toMatch(
      new RegExp(
        `^PostgreSQL server main did not accept a connection on ${dir}/socket \\(port 5999\\) after 1 ms \\(startupTimeout\\), waited \\d+ ms; log ${logFile} is empty; raise startupTimeout if the machine is busy$`,
      ),
    )
  } finally {
    child.kill('SIGKILL')
  }
})

test('waitExited (what pgrig down waits for) counts an exited, unreaped pid as gone at once and never a live one', async () => {
  if (!fs.existsSync('/proc/self/stat')) return
  // `sleep 0` exits at once and stays a zombie: its parent became `sleep 3`, which never waits, as a
  // detached server's parent init may take 2 s to.
  const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 3'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  })
  try {
    const zombie = await new Promise<number>((resolve) =>
      parent.stdout.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
    )
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(signal(zombie, 0)).toBe(true) // the pid still exists: kill -0 finds it
    expect(isAlive(zombie)).toBe(false)
    const t0 = Date.now()
    expect(await waitExited(zombie)).toBe(true)
    expect(Date.now() - t0).toBeLessThan(1_000)
    // a live process is never reported gone
    expect(await waitExited(parent.pid!, 200)).toBe(false)
  } finally {
    parent.kill('SIGKILL')
  }
})
