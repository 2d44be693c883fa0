import { spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { createClient } from 'redis'
import { afterEach, describe, expect, test } from 'vitest'
import { listCompanions } from '../servers/companions.js'
import { isAlive, waitUntil } from '../servers/process-alive.js'
import { listRunIds } from '../servers/run-dir.js'
import { isPgrigError } from '../errors.js'
import { findRedisServer } from './redis-binary.js'
import { startRedis, type StartedRedis } from './redis.js'

const started: StartedRedis[] = []
afterEach(async () => {
  await Promise.all(started.splice(0).map((r) => r.stop()))
})

async function start(options: Parameters<typeof startRedis>[0] = {}): Promise<StartedRedis> {
  const redis = await startRedis(options)
  started.push(redis)
  return redis
}

async function connect(url: string) {
  const client = createClient({ url, socket: { reconnectStrategy: false } })
  client.on('error', () => {})
  await client.connect()
  return client
}

function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    socket.once('connect', () => (socket.destroy(), resolve(false)))
    socket.once('error', () => resolve(true))
  })
}

describe('startRedis', () => {
  test('answers on a free loopback port with persistence off and the asked number of databases', async () => {
    const redis = await start({ databases: 4 })
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}/0`)
    const client = await connect(redis.url)
    try {
      expect(await client.ping()).toBe('PONG')
      expect(await client.configGet('save')).toEqual({ save: '' })
      expect(await client.configGet('appendonly')).toEqual({ appendonly: 'no' })
      expect(await client.configGet('databases')).toEqual({ databases: '4' })
      expect(await client.configGet('bind')).toEqual({ bind: '127.0.0.1' })
    } finally {
      client.destroy()
    }
  })

  test('each index is its own keyspace, and flush empties only the index it names', async () => {
    const redis = await start({ databases: 3 })
    const one = await connect(redis.urlFor(1))
    const two = await connect(redis.urlFor(2))
    try {
      await one.set('k', 'from-1')
      await two.set('k', 'from-2')
      expect(await one.get('k')).toBe('from-1')
      expect(await two.get('k')).toBe('from-2')
      await redis.flush(1)
      expect(await one.get('k')).toBeNull()
      expect(await two.get('k')).toBe('from-2')
      // Flushing twice in a row, concurrently with other indexes, stays correct.
      await two.set('other', 'x')
      await Promise.all([redis.flush(2), redis.flush(1), redis.flush(2)])
      expect(await two.dbSize()).toBe(0)
    } finally {
      one.destroy()
      two.destroy()
    }
  })

  test('an index outside the databases is refused with one line naming the range', async () => {
    const redis = await start({ databases: 2 })
    expect(() => redis.urlFor(2)).toThrow(/index 2 is out of range: this server has 2 databases \(0–1\)/)
    await expect(redis.flush(-1)).rejects.toMatchObject({ code: 'E_USAGE' })
  })

  test('stop ends the process, frees the port and removes its folder; twice is harmless', async () => {
    const redis = await startRedis()
    const { pid, port, logFile } = redis
    expect(isAlive(pid)).toBe(true)
    await redis.flush(0)
    await redis.stop()
    await redis.stop()
    expect(isAlive(pid)).toBe(false)
    expect(await refusesConnections(port)).toBe(true)
    expect(fs.existsSync(path.dirname(logFile))).toBe(false)
    await expect(redis.flush(0)).rejects.toMatchObject({ code: 'E_NOT_RUNNING' })
  })

  test('await using stops it at the end of the block', async () => {
    let pid = 0
    {
      await using redis = await startRedis()
      pid = redis.pid
      expect(isAlive(pid)).toBe(true)
    }
    expect(isAlive(pid)).toBe(false)
  })

  test('two servers side by side get different ports and names', async () => {
    const [a, b] = await Promise.all([start(), start()])
    expect(a!.port).not.toBe(b!.port)
    expect(a!.name).not.toBe(b!.name)
  })
})

describe('startRedis failures', () => {
  test('a missing binary is one line naming the package to install', () => {
    // This machine has redis-server; an empty PATH and no usual folders stand for one without it.
    const saved = process.env.PATH
    process.env.PATH = ''
    let error: unknown
    try {
      findRedisServer(undefined, [])
    } catch (e) {
      error = e
    } finally {
      process.env.PATH = saved
    }
    expect(isPgrigError(error) && error.code).toBe('E_REDIS_NOT_FOUND')
    expect((error as Error).message).toMatch(/apt-get install redis-server/)
    expect((error as Error).message).not.toMatch(/\n/)
  })

  test('an explicit binary that does not exist is refused before anything starts', async () => {
    await expect(startRedis({ binary: '/nonexistent/redis-server' })).rejects.toMatchObject({
      code: 'E_REDIS_NOT_FOUND',
      message: expect.stringMatching(/\/nonexistent\/redis-server does not exist/),
    })
  })

  test('a host that is not this machine is refused with one line', async () => {
    // 192.0.2.1 (TEST-NET-1) is never an address of this machine.
    const error = await startRedis({ host: '192.0.2.1' }).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'E_USAGE' })
    expect((error as Error).message).toMatch(/redis host 192\.0\.2\.1 cannot be listened on here/)
  })

  test('a server that exits during startup says so with its log', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-fake-redis-'))
    try {
      const fake = path.join(dir, 'redis-server')
      // Writes to the --logfile it is given, as redis-server does, then fails.
      const script = `const a = process.argv; require('fs').writeFileSync(a[a.indexOf('--logfile') + 1], 'FATAL CONFIG FILE ERROR\\n'); process.exit(1)`
      fs.writeFileSync(fake, `#!${process.execPath}\n${script}\n`)
      fs.chmodSync(fake, 0o755)
      const error = await startRedis({ binary: fake }).catch((e: unknown) => e)
      expect(error).toMatchObject({ code: 'E_SERVER_EXITED' })
      expect((error as Error).message).toMatch(/exited during startup \(code 1\)[^]*FATAL CONFIG FILE ERROR/)
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })

  test('a server that never answers PING times out naming what it waited for, and is stopped', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-fake-redis-'))
    try {
      const fake = path.join(dir, 'redis-server')
      fs.writeFileSync(
        fake,
        `#!${process.execPath}\nconsole.log('pretending'); setInterval(() => {}, 1000)\n`,
      )
      fs.chmodSync(fake, 0o755)
      const error = await startRedis({ binary: fake, startupTimeout: 300 }).catch((e: unknown) => e)
      expect(error).toMatchObject({ code: 'E_STARTUP_TIMEOUT' })
      expect((error as Error).message).toMatch(/did not answer PING on 127\.0\.0\.1:\d+ after 300 ms/)
      const leftovers = fs
        .readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p))
        .filter((p) => {
          try {
            return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(fake)
          } catch {
            return false
          }
        })
      expect(leftovers).toEqual([])
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('redis dies with its owner', () => {
  test('a library user killed with SIGKILL leaves no redis-server behind', async () => {
    const dist = path.resolve('dist/index.js')
    const code = `import { startRedis } from ${JSON.stringify(dist)}; const r = await startRedis(); console.log(r.pid); setInterval(() => {}, 1000)`
    const owner = spawn(process.execPath, ['--input-type=module', '-e', code], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    owner.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    expect(await waitUntil(() => /\d+\n/.test(out), 45_000, 20)).toBe(true)
    const pid = Number(out.trim())
    expect(isAlive(pid)).toBe(true)
    const runId = listRunIds().find((id) => listCompanions(id).some((c) => c.pid === pid))
    expect(runId).toBeDefined()
    owner.kill('SIGKILL')
    expect(await waitUntil(() => !isAlive(pid), 15_000, 50)).toBe(true)
    expect(await waitUntil(() => !listRunIds().includes(runId!), 5_000, 50)).toBe(true)
  })
})
