import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { afterAll, describe, expect, onTestFinished, test } from 'vitest'
import { waitUntil } from '../src/servers/process-alive.js'
import { configProject } from './support/config-project.js'
import { privateRunRoot } from './support/run-root.js'
import { CLI, pgrig } from './support/cli.js'

// Every child pgrig starts dies with its owner, however the owner dies: a service that `exec`s,
// one whose grandchild left the group (setsid), and the command of `pgrig run` (issue 21, item 3).
privateRunRoot('trees')

afterAll(async () => {
  await pgrig(['down', '--all'])
})

/** A number no other process on the machine has in its command line: `sleep <it>` is ours. */
function mark(): number {
  return 3_000_000 + Math.floor(Math.random() * 1_000_000)
}

/** Pids of live processes whose command line is exactly `argv`. */
function pidsOf(...argv: string[]): number[] {
  const want = argv.join('\0')
  const found: number[] = []
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0$/, '')
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8')
      const zombie = stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')
      if (cmdline === want && !zombie) found.push(Number(entry))
    } catch {
      // gone meanwhile
    }
  }
  return found
}

/** Kills what a failed test left behind, so the next tests (and the machine) do not inherit it. */
function cleanUp(...marks: number[]): void {
  onTestFinished(() => {
    for (const m of marks) for (const pid of pidsOf('sleep', String(m))) process.kill(pid, 'SIGKILL')
  })
}

const project = (config: unknown) => configProject(config, 'trees')

/** A service that execs into `sleep <a>`, after starting `sleep <b>` in a session of its own (a double fork). */
function escapingService(a: number, b: number) {
  return { services: { sleeper: { command: ['sh', '-c', `setsid sleep ${b} & exec sleep ${a}`] } } }
}

const gone = (...argv: string[]) => waitUntil(() => pidsOf(...argv).length === 0, 15_000, 50)

/** Starts `pgrig <args>` and resolves once its stderr says everything is up. */
async function upAndRunning(args: string[], cwd: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, stdio: ['ignore', 'ignore', 'pipe'] })
  onTestFinished(() => {
    child.kill('SIGKILL')
  })
  let stderr = ''
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
      if (/ up in \d+ ms/.test(stderr)) resolve()
    })
    child.on('exit', (code) => reject(new Error(`pgrig exited (${code}) before it was up: ${stderr}`)))
  })
  return child
}

// Several bounded waits each: room for them on a machine at load 8.
describe('a service that execs', { timeout: 120_000 }, () => {
  test('shows as running with its real pid, and pgrig down stops it and its double-forked child', async () => {
    const [a, b] = [mark(), mark()]
    cleanUp(a, b)
    const dir = project(escapingService(a, b))
    const up = await pgrig(['up'], { cwd: dir })
    expect(up.code, up.stderr).toBe(0)
    await waitUntil(() => pidsOf('sleep', String(b)).length === 1, 5_000)
    const status = await pgrig(['status', '--json'])
    const { services } = JSON.parse(status.stdout) as {
      services: { name: string; state: string; pid: number }[]
    }
    const sleeper = services.find((s) => s.name === 'sleeper')
    expect(sleeper?.state).toBe('running')
    expect(pidsOf('sleep', String(a))).toEqual([sleeper?.pid])
    const down = await pgrig(['down'])
    expect(down.code, down.stderr).toBe(0)
    expect(await gone('sleep', String(a))).toBe(true)
    expect(await gone('sleep', String(b))).toBe(true)
  })

  test('the end of pgrig run stops it and its double-forked child', async () => {
    const [a, b] = [mark(), mark()]
    cleanUp(a, b)
    const dir = project(escapingService(a, b))
    const out = await pgrig(
      ['run', '--', 'sh', '-c', `until pgrep -fx 'sleep ${b}' >/dev/null; do sleep 0.05; done`],
      {
        cwd: dir,
      },
    )
    expect(out.code, out.stderr).toBe(0)
    expect(await gone('sleep', String(a))).toBe(true)
    expect(await gone('sleep', String(b))).toBe(true)
  })

  test('the reaper stops it when pgrig run is killed', async () => {
    const [a, b] = [mark(), mark()]
    cleanUp(a, b)
    const dir = project(escapingService(a, b))
    const run = await upAndRunning(['run', '--', 'sleep', '600'], dir)
    await waitUntil(() => pidsOf('sleep', String(b)).length === 1, 5_000)
    run.kill('SIGKILL')
    expect(await gone('sleep', String(a))).toBe(true)
    expect(await gone('sleep', String(b))).toBe(true)
  })
})

describe('the command of pgrig run', { timeout: 120_000 }, () => {
  // Killed at several moments: right as it is up, while the command starts, and once it runs.
  test.each([0, 150, 1_000])(
    'dies with pgrig run when that is SIGKILLed %i ms after "up in"',
    async (delay) => {
      const [a, b] = [mark(), mark()]
      cleanUp(a, b)
      const dir = project({})
      // The command's own child, and a grandchild that left its group and session.
      const command = ['sh', '-c', `setsid sleep ${b} & sleep ${a}`]
      const run = await upAndRunning(['run', '--', ...command], dir)
      await new Promise((resolve) => setTimeout(resolve, delay))
      run.kill('SIGKILL')
      // It must not outlive its owner and then fail on a server being torn down under it.
      await waitUntil(() => pidsOf('sleep', String(a)).length > 0, delay === 0 ? 1_000 : 3_000)
      expect(await gone('sleep', String(a))).toBe(true)
      expect(await gone('sleep', String(b))).toBe(true)
      expect(await gone('sh', '-c', command[2]!)).toBe(true)
    },
  )

  test('node --test and its test-file process die with pgrig run when that is SIGKILLed', async () => {
    const dir = project({})
    const a = mark()
    cleanUp(a)
    // node --test runs each file in a process of its own; this one holds its server's connection open.
    fs.writeFileSync(
      path.join(dir, 'held.test.mjs'),
      `import { test } from 'node:test'\nimport { execFileSync } from 'node:child_process'\ntest('holds', () => { execFileSync('sleep', ['${a}']) })\n`,
    )
    const run = await upAndRunning(['run', '--', process.execPath, '--test', 'held.test.mjs'], dir)
    expect(await waitUntil(() => pidsOf('sleep', String(a)).length > 0, 10_000, 50)).toBe(true)
    run.kill('SIGKILL')
    expect(await gone('sleep', String(a))).toBe(true)
    expect(await gone(process.execPath, '--test', 'held.test.mjs')).toBe(true)
  })

  test('its leftovers go when it exits, its exit code is kept', async () => {
    const b = mark()
    cleanUp(b)
    const out = await pgrig(['run', '--', 'sh', '-c', `setsid sleep ${b} & sleep 0.2; exit 3`], {
      cwd: project({}),
    })
    expect(out.code, out.stderr).toBe(3)
    expect(await gone('sleep', String(b))).toBe(true)
  })
})
