/**
 * One rule for "which server" (`chooseDefault`): inside `pgrig run`, `pgrig env` and the integrations
 * use the run's own servers; otherwise the config's first server, however the starts finished, with
 * an unrelated server up; `env` and `status` say which one is the default.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { resolveServers } from '../src/config/resolve.js'
import { chooseDefault } from '../src/servers/default-server.js'
import { readState } from '../src/servers/run-dir.js'
import type { ServerInfo } from '../src/servers/server-info.js'
import { startServer, startServers, type StartedServer } from '../src/servers/start-server.js'
import { pgrig } from './support/cli.js'
import { privateRunRoot } from './support/run-root.js'

privateRunRoot('default-server')

const info = (name: string, port: number) => ({ name, port }) as ServerInfo

describe('chooseDefault', () => {
  const servers = [
    { runId: 'old', server: info('unrelated', 1) },
    { runId: 'mine', server: info('plain', 2) },
    { runId: 'mine', server: info('tls', 3) },
  ]

  test("outside a run: the config's first server, not the oldest run's", () => {
    expect(chooseDefault(servers, { configFirst: 'tls' })).toMatchObject({ server: { name: 'tls' } })
    expect(chooseDefault(servers, { configFirst: 'tls' })?.why).toBe("the config's first server")
  })

  test("inside a run: the run's own, PGPORT's first, never another run's", () => {
    expect(chooseDefault(servers, { runId: 'mine', configFirst: 'unrelated' })?.server.name).toBe('plain')
    expect(chooseDefault(servers, { runId: 'mine', port: 3 })?.server.name).toBe('tls')
    expect(chooseDefault(servers, { runId: 'mine', port: 1 })?.server.name).toBe('plain')
  })

  test('a name wins, the run first; a name nobody has is no server', () => {
    expect(chooseDefault(servers, { name: 'unrelated', runId: 'mine' })?.server.name).toBe('unrelated')
    expect(chooseDefault(servers, { name: 'nope' })).toBeUndefined()
  })

  test("the config's first not running: the oldest run's first, and the why says so", () => {
    const choice = chooseDefault(servers, { configFirst: 'gone' })
    expect(choice?.server.name).toBe('unrelated')
    expect(choice?.why).toContain("the config's first server (gone) is not running")
  })
})

describe('pgrig env and status with a three-server config and an unrelated server up', () => {
  let dir: string
  let unrelated: StartedServer
  // client-cert first: it starts slowest (its certificates), so a finish-order default never picks it.
  const config = { servers: { cert: { profile: 'client-cert' }, tls: { profile: 'tls' }, plain: {} } }

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-default-'))
    fs.writeFileSync(path.join(dir, 'pgrig.config.json'), JSON.stringify(config))
    unrelated = await startServer({ name: 'unrelated', quiet: true, detached: true })
  })
  afterAll(async () => {
    await unrelated?.stop()
    fs.rmSync(dir, { recursive: true, force: true })
  })

  test("20 starts: the state lists the servers in config order and env's default is always cert", async () => {
    const specs = resolveServers(config as never, {}, dir)
    for (let i = 0; i < 20; i++) {
      const started = await startServers(specs, { quiet: true })
      try {
        const order = readState(started[0]!.runId)!.servers.map((s) => s.name)
        expect(order).toEqual(['cert', 'tls', 'plain'])
        const out = await pgrig(['env', '--format', 'json'], { cwd: dir, env: { PGRIG_RUN_ID: '' } })
        expect(out.code, out.stderr).toBe(0)
        expect(JSON.parse(out.stdout).PGPORT, `start ${i}`).toBe(String(started[0]!.info.port))
        expect(out.stderr).toContain("server cert, the config's first server")
        if (i === 0) {
          const sh = await pgrig(['env'], { cwd: dir, env: { PGRIG_RUN_ID: '' } })
          expect(sh.stdout.split('\n')[0]).toBe(
            "# DATABASE_URL and PG*: server cert, the config's first server",
          )
          const status = await pgrig(['status', '--json'], { cwd: dir, env: { PGRIG_RUN_ID: '' } })
          const rows = JSON.parse(status.stdout).servers as { name: string; default: boolean }[]
          expect(rows.filter((r) => r.default).map((r) => r.name)).toEqual(['cert'])
          const text = await pgrig(['status'], { cwd: dir, env: { PGRIG_RUN_ID: '' } })
          expect(text.stdout).toContain(
            "Default (DATABASE_URL and PG* of pgrig env): cert, the config's first server",
          )
        }
      } finally {
        await Promise.all(started.map((server) => server.stop()))
      }
    }
  }, 240_000)

  test("inside pgrig run, env prints the run's own server, not the unrelated one", async () => {
    const out = await pgrig(
      ['run', '--', process.execPath, path.resolve('dist/cli/main.js'), 'env', '--format', 'json'],
      {
        cwd: dir,
        env: { PGRIG_RUN_ID: '' },
      },
    )
    expect(out.code, out.stderr).toBe(0)
    const env = JSON.parse(out.stdout.slice(out.stdout.indexOf('{'))) as Record<string, string>
    expect(env.PGPORT).not.toBe(String(unrelated.info.port))
    expect(env.PGRIG_UNRELATED_URL).toBeUndefined()
    expect(env.PGRIG_CERT_URL).toBeDefined()
    expect(out.stderr).toMatch(/server cert, .*of this pgrig run/)
  }, 120_000)
})
