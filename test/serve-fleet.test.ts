import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { repoRoot, runIn } from './support/fixture-project.js'
import { privateRunRoot } from './support/run-root.js'

// A fleet on one `pgrig serve`: three node:test processes and three Jest processes at once, each
// running four tests side by side, all through the HTTP API (no pgrig code in the test processes).
privateRunRoot('serve-fleet')

const FIXTURE = path.join(repoRoot, 'test', 'fixtures', 'serve-fleet')
const CLI = path.join(repoRoot, 'dist', 'cli', 'main.js')
const JEST = path.join(repoRoot, 'node_modules', 'jest', 'bin', 'jest.js')

let serve: ChildProcess
let baseUrl: string

beforeAll(async () => {
  serve = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--quiet'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  serve.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  // --quiet prints the address alone, on stdout, for a script to read (issue 22: it was on stderr).
  baseUrl = await new Promise<string>((resolve, reject) => {
    serve.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      const url = /^(http:\/\/\S+\/api)$/m.exec(stdout)?.[1]
      if (url) resolve(url)
    })
    serve.on('exit', (code) => reject(new Error(`pgrig serve exited ${code}: ${stdout}${stderr}`)))
  })
})

afterAll(async () => {
  if (!serve || serve.exitCode !== null) return
  const exited = new Promise((resolve) => serve.on('exit', resolve))
  serve.kill('SIGTERM')
  await exited
})

describe('a fleet of test processes sharing one pgrig serve', () => {
  test(
    'node:test ×3 and Jest ×3 at once: each test gets a fresh database no other holds; the template is migrated once',
    { timeout: 240_000 },
    async () => {
      const migrations = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-fleet-')), 'migrations.log')
      fs.writeFileSync(migrations, '')
      const shared = {
        INTEGRESQL_CLIENT_BASE_URL: baseUrl,
        FLEET_HASH: `fleet-${process.pid}-${Date.now()}`,
        FLEET_MIGRATIONS: migrations,
      }
      const runs = await Promise.all([
        ...[0, 1, 2].map(() =>
          runIn(FIXTURE, [process.execPath, '--test', 'node-test/fleet.test.mjs'], {
            ...shared,
            FLEET_RUNNER: 'node:test',
          }),
        ),
        ...[0, 1, 2].map(() =>
          runIn(FIXTURE, [process.execPath, '--experimental-vm-modules', JEST, '--ci'], {
            ...shared,
            FLEET_RUNNER: 'jest',
          }),
        ),
      ])
      for (const ran of runs) expect(ran.code, ran.output).toBe(0)
      const records = runs.flatMap((ran) => ran.records) as unknown as {
        runner: string
        pid: number
        name: string
      }[]
      expect(records.filter((r) => r.runner === 'node:test')).toHaveLength(12)
      expect(records.filter((r) => r.runner === 'jest')).toHaveLength(12)
      expect(new Set(records.map((r) => r.pid)).size).toBe(6)
      // 24 tests, 24 databases: a database given back dirty is recreated, never handed out again.
      expect(new Set(records.map((r) => r.name)).size).toBe(24)
      expect(fs.readFileSync(migrations, 'utf8').trim().split('\n')).toHaveLength(1)
      fs.rmSync(path.dirname(migrations), { recursive: true, force: true })
    },
  )
})
