import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { pathToFileURL } from 'node:url'
import { expect, test } from 'vitest'
import { isAlive, waitUntil } from '../src/servers/process-alive.js'
import { newRunId, runDirOf } from '../src/servers/run-dir.js'
import type { ServerInfo } from '../src/servers/server-info.js'
import { watchServer } from '../src/servers/server-watch.js'
import { repoRoot } from './support/fixture-project.js'
import { privateRunRoot } from './support/run-root.js'

privateRunRoot('watch')

/**
 * A starter as `pgrig run` is one (built dist/): it starts a "postmaster" (a `sleep`), reports its
 * death, and on a line from stdin kills it and then stays busy for a while before its event loop
 * can reap it and note how it ended.
 */
const STARTER = `
import { spawn } from 'node:child_process'
const { reportDeath } = await import(process.env.WATCH_MODULE)
const postmaster = spawn('sleep', ['60'], { stdio: 'ignore' })
const info = { ...JSON.parse(process.env.WATCH_INFO), pid: postmaster.pid }
reportDeath(info, postmaster, process.env.WATCH_RUN, (error) => {
  console.log('REPORT ' + error.message)
  setTimeout(() => process.exit(0), 100)
})
console.log('PID ' + postmaster.pid)
process.stdin.once('data', () => {
  process.kill(postmaster.pid, 'SIGKILL')
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(process.env.WATCH_BUSY_MS))
})
`

test('a watch in another process waits for the starter to note how the server ended, and names its copy of the log', async () => {
  const runId = newRunId()
  fs.mkdirSync(runDirOf(runId), { recursive: true })
  const logFile = path.join(runDirOf(runId), 'main.log')
  fs.writeFileSync(logFile, 'LOG:  database system is ready to accept connections\n')
  const info = {
    name: 'main',
    port: 5432,
    logFile,
  } as Partial<ServerInfo> as ServerInfo
  const starter = spawn(process.execPath, ['--input-type=module', '-e', STARTER], {
    env: {
      ...process.env,
      WATCH_MODULE: pathToFileURL(path.join(repoRoot, 'dist', 'servers', 'server-watch.js')).href,
      WATCH_INFO: JSON.stringify(info),
      WATCH_RUN: runId,
      // Well past what a fixed wait for the note allowed (300 ms).
      WATCH_BUSY_MS: '1000',
    },
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const lines = createInterface({ input: starter.stdout })[Symbol.asyncIterator]()
  const copies: string[] = []
  try {
    const pid = Number((await lines.next()).value?.replace(/^PID /, ''))
    expect(isAlive(pid)).toBe(true)
    const watch = watchServer({ ...info, pid }, undefined, runId)
    expect(watch.died()).toBeUndefined()
    starter.stdin.write('kill\n')
    // Killed, not yet reaped: its starter is busy.
    expect(await waitUntil(() => !isAlive(pid), 5_000, 5)).toBe(true)
    const died = watch.died()?.message ?? ''
    const reported = (await lines.next()).value ?? ''
    for (const message of [died, reported]) copies.push(/; log (\S+-died\.log)/.exec(message)?.[1] ?? '')
    expect(died).toMatch(
      new RegExp(
        `^PostgreSQL server main \\(pid ${pid}, port 5432\\) died during the test run \\(killed by SIGKILL\\); `,
      ),
    )
    expect(reported).toMatch(
      /^REPORT PostgreSQL server main .* died during the command \(killed by SIGKILL\)/,
    )
    // One copy of the log, the starter's.
    expect(copies[0]).toMatch(new RegExp(`^${os.tmpdir()}/pgrig-${runId}-`))
    expect(copies[0]).toBe(copies[1])
  } finally {
    starter.kill()
    for (const copy of copies) if (copy) fs.rmSync(path.dirname(copy), { recursive: true, force: true })
    fs.rmSync(runDirOf(runId), { recursive: true, force: true })
  }
}, 30_000)
