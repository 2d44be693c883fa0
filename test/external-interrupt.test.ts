import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, expect, onTestFinished, test } from 'vitest'
import { waitUntil } from '../src/servers/process-alive.js'
import { fixtureProject, repoRoot } from './support/fixture-project.js'
import { privateRunRoot } from './support/run-root.js'
import { pgrig } from './support/cli.js'

// Ctrl-C or SIGTERM of a Vitest run against a server pgrig did not start (`url` + `allowExternal`)
// drops the run's clones before the process exits, instead of leaving them until some later start
// (issue 21, item 3).
privateRunRoot('ext-intr')
const vitestBin = path.join(repoRoot, 'node_modules', 'vitest', 'vitest.mjs')
let url = ''

beforeAll(async () => {
  const up = await pgrig(['up', '--name', 'ext', '--json'])
  expect(up.code, up.stderr).toBe(0)
  url = (JSON.parse(up.stdout) as { servers: { superuser: { url: string } }[] }).servers[0]!.superuser.url
})

afterAll(async () => {
  await pgrig(['down', '--all'])
})

async function databasesOf(runId: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const { rows } = await client.query<{ datname: string }>(
      "select datname from pg_database where datname like 'pgrig\\_' || $1 || '\\_%' order by datname",
      [runId],
    )
    return rows.map((r) => r.datname)
  } finally {
    await client.end()
  }
}

test.each(['SIGINT', 'SIGTERM'] as const)(
  'Vitest interrupted by %s while its tests hold clones leaves none on the external server',
  async (sig) => {
    const dir = fixtureProject('external-interrupt-project', { install: 'link' })
    onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }))
    const out = path.join(dir, 'held.out')
    fs.writeFileSync(out, '')
    const child = spawn(process.execPath, [vitestBin, 'run'], {
      cwd: dir,
      env: { ...process.env, FIXTURE_URL: url, FIXTURE_OUT: out },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
    onTestFinished(() => {
      child.kill('SIGKILL')
    })
    const held = () => fs.readFileSync(out, 'utf8').split('\n').filter(Boolean)
    // Both workers hold a clone (and the pool has made more for the tests to come).
    expect(await waitUntil(() => held().length >= 2, 90_000, 100), stderr).toBe(true)
    const runId = /^pgrig_([a-z0-9]+)_\d+$/.exec(held()[0]!)![1]!
    expect((await databasesOf(runId)).length).toBeGreaterThanOrEqual(2)
    child.kill(sig)
    await exited
    expect(await databasesOf(runId)).toEqual([])
  },
  // The fixture's first start, on a machine at load 8, can take most of a minute.
  180_000,
)
