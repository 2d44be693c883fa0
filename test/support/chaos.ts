/**
 * What the chaos proxy tests share: undo steps run after each test, one-shot queries, clients
 * ended with the test, an error reduced to what a client sees, and `pgrig chaos serve` as a child.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import pg from 'pg'
import postgres from 'postgres'
import { afterAll, expect } from 'vitest'

/** Undo steps, run last-first by `run()` (called from the file's afterEach, before its own clean-up). */
export class Cleanups {
  private readonly steps: (() => Promise<unknown>)[] = []

  push(step: () => Promise<unknown>): void {
    this.steps.push(step)
  }

  async run(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) await step().catch(() => undefined)
  }
}

import { query } from './query.js'

export { query }

/** A node-postgres client, connected, ended after the test. */
export async function pgClient(url: string, cleanups: Cleanups): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url })
  client.on('error', () => undefined)
  cleanups.push(() => client.end())
  await client.connect()
  return client
}

/** A postgres.js client on one connection, ended after the test. */
export function postgresJs(url: string, cleanups: Cleanups): postgres.Sql {
  const sql = postgres(url, { max: 1, onnotice: () => undefined })
  cleanups.push(() => sql.end({ timeout: 1 }))
  return sql
}

/** What a client sees of a promise: `none`, or the error's SQLSTATE (or '') and message. */
export const failure = (promise: Promise<unknown>): Promise<{ code: string; message: string }> =>
  promise.then(
    () => ({ code: 'none', message: '' }),
    (e: { code?: string; message: string }) => ({ code: e.code ?? '', message: e.message }),
  )

/**
 * Commits a row of `accounts` (id `id`) under an ambiguous-commit fault and checks both sides of
 * it: the client sees its connection lost at COMMIT, while `directUrl` shows the row committed.
 */
export async function expectCommittedButLost(
  client: pg.Client,
  directUrl: string,
  id: number,
): Promise<void> {
  await client.query('begin')
  await client.query(`insert into accounts values (${id}, ${id * 10})`)
  const error = await failure(client.query('commit'))
  expect(error.code).not.toBe('none')
  expect(error.message).toMatch(/terminated|closed|ECONNRESET/i)
  expect(await query(directUrl, 'select id from accounts')).toEqual([{ id }])
}

const children = new Set<ChildProcess>()
afterAll(() => children.forEach((child) => child.kill('SIGTERM')))

export interface Served {
  stdout: string
  stderr: string
  /** The exit code, or null while it still serves. */
  code: number | null
  child: ChildProcess
}

/**
 * Starts `pgrig chaos serve --port 0 …args` (killed after the file's tests, if still running). Resolves once it
 * printed the API address (and, with `--config`, a line per proxy), or when it exits.
 */
export function chaosServe(args: string[] = []): Promise<Served> {
  const child = spawn(
    process.execPath,
    [path.resolve('dist/cli/main.js'), 'chaos', 'serve', '--port', '0', ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  children.add(child)
  const proxies = args.includes('--config')
  let stdout = ''
  let stderr = ''
  return new Promise((resolve) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      const ready = proxies ? /-> \S+\n$/.test(stdout) : stdout.includes('\n')
      if (ready) resolve({ stdout, stderr, code: null, child })
    })
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('exit', (code) => resolve({ stdout, stderr, code, child }))
  })
}
