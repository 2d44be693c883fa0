import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { waitReady } from './postmaster.js'

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
