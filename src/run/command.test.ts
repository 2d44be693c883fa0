import { PassThrough } from 'node:stream'
import { describe, expect, test } from 'vitest'
import { isPgrigError } from '../errors.js'
import { exitCodeOf, runCommand } from './command.js'
import { commandEnv, sharedMajor } from './env.js'
import { selectionEnv } from './selection.js'

function collect(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough()
  let text = ''
  stream.on('data', (d: Buffer) => (text += d.toString()))
  return { stream, text: () => text }
}

describe('runCommand', () => {
  test("resolves the command's exit code, and 128 + the signal's number when a signal ended it", async () => {
    const env = process.env
    expect(await runCommand(['sh', '-c', 'exit 7'], { env })).toBe(7)
    expect(await runCommand(['sh', '-c', 'kill -TERM $$'], { env })).toBe(143)
    expect(exitCodeOf(null, 'SIGKILL')).toBe(137)
  })

  test('a command that is not found rejects with one line and exit code 127', async () => {
    const error = await runCommand(['no-such-command-pgrig'], { env: process.env }).catch((e: unknown) => e)
    expect(isPgrigError(error) && error.code).toBe('E_COMMAND_NOT_FOUND')
    expect((error as Error).message).toBe(
      'command no-such-command-pgrig was not found; check the spelling or PATH',
    )
    expect((error as { exitCode?: number }).exitCode).toBe(127)
  })

  test('prefixed output arrives whole lines at a time, every line led by the prefix, before it resolves', async () => {
    const out = collect()
    const err = collect()
    const code = await runCommand(['sh', '-c', 'printf "a\\nb"; echo c >&2; sleep 0.1; echo d'], {
      env: process.env,
      prefixed: { prefix: 'pg18 | ', stdout: out.stream, stderr: err.stream },
    })
    expect(code).toBe(0)
    expect(out.text()).toBe('pg18 | a\npg18 | bd\n')
    expect(err.text()).toBe('pg18 | c\n')
  })

  test('a SIGTERM to pgrig reaches the command, and pgrig outlives it', async () => {
    const listeners = process.listenerCount('SIGTERM')
    const out = collect()
    const running = runCommand(
      ['sh', '-c', 'trap "echo got; exit 5" TERM; echo ready; while :; do sleep 0.05; done'],
      {
        env: process.env,
        prefixed: { prefix: '', stdout: out.stream, stderr: out.stream },
      },
    )
    while (!out.text().includes('ready')) await new Promise((r) => setTimeout(r, 20))
    process.kill(process.pid, 'SIGTERM')
    expect(await running).toBe(5)
    expect(out.text()).toBe('ready\ngot\n')
    expect(process.listenerCount('SIGTERM')).toBe(listeners)
  })
})

describe('the environment a command sees', () => {
  test("pgrig's variables win over the caller's; the report dir is absolute", () => {
    const env = commandEnv({
      servers: [],
      runId: 'r1',
      env: { PGRIG_ONLY: 'smoke' },
      pgVersion: '16',
      reportDir: 'out',
    })
    expect(env).toMatchObject({ PGRIG_RUN_ID: 'r1', PGRIG_ONLY: 'smoke', PGRIG_PG_VERSION: '16' })
    expect(env.PGRIG_REPORT_DIR).toBe(`${process.cwd()}/out`)
    expect(env.INTEGRESQL_CLIENT_BASE_URL).toBeUndefined()
  })

  test('one major for servers that share it, none for several', () => {
    expect(sharedMajor(['16.4', '16.9'])).toBe('16')
    expect(sharedMajor(['15.8', '18.1'])).toBeUndefined()
    expect(sharedMajor([])).toBeUndefined()
  })

  test('the selection is normalized, and a category nobody defines is refused in one line', async () => {
    const policy = () => Promise.resolve({})
    expect(await selectionEnv({ only: 'smoke, transaction', skip: 'slow' }, policy)).toEqual({
      PGRIG_ONLY: 'smoke,transaction',
      PGRIG_SKIP: 'slow',
    })
    expect(await selectionEnv({}, () => Promise.reject(new Error('not read without a category')))).toEqual({})
    await expect(selectionEnv({ skip: 'smok' }, policy)).rejects.toThrow(
      /^--skip smok: no such test category/,
    )
  })

  test('a category the policy names only as allowed to fail (or must-pass, skip) can be selected', async () => {
    const policy = () => Promise.resolve({ allowedToFail: ['flaky'], mustPass: ['billing'] })
    expect(await selectionEnv({ only: 'billing', skip: 'flaky' }, policy)).toEqual({
      PGRIG_ONLY: 'billing',
      PGRIG_SKIP: 'flaky',
    })
  })
})
