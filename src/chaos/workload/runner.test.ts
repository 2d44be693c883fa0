import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type StartedServer, startServer } from '../../servers/start-server.js'
import { check } from '../checker/check.js'
import { runWorkload, type WorkloadOptions } from './runner.js'

// test/cli.test.ts runs `pgrig down --all`, which stops every server under the shared run root;
// a run root of this file's own keeps this server out of its reach.
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-chaos-workload-'))
fs.chmodSync(root, 0o755)
const sharedRoot = process.env.PGRIG_RUN_ROOT
process.env.PGRIG_RUN_ROOT = root

// Each claim below is about PostgreSQL itself: what its isolation levels let through in practice.
describe('workloads against a real server', () => {
  let server: StartedServer
  beforeAll(async () => {
    server = await startServer({ name: 'chaos-checker' })
  })
  afterAll(async () => {
    await server?.stop()
    fs.rmSync(root, { recursive: true, force: true })
    if (sharedRoot === undefined) delete process.env.PGRIG_RUN_ROOT
    else process.env.PGRIG_RUN_ROOT = sharedRoot
  })

  const run = (options: Omit<WorkloadOptions, 'url'>) => runWorkload({ url: server.url, ...options })

  test('READ COMMITTED loses updates and shows read skew, but never dirty reads', async () => {
    const { history, guarantee } = await run({
      model: 'rw-register',
      isolation: 'read-committed',
      clients: 6,
      transactions: 400,
      keys: 4,
      distribution: 'exponential',
      seed: 1,
    })
    const result = check(history, { model: 'rw-register', isolation: guarantee })
    expect(result.anomalyTypes).toContain('lost-update')
    expect(result.anomalyTypes.some((t) => t === 'G-single' || t === 'G2-item')).toBe(true)
    expect(result.violates).not.toContain('read-committed')
    expect(result.valid).toBe(true)
  })

  test('REPEATABLE READ (snapshot isolation) lets write skew through, not lost updates', async () => {
    const { history, guarantee } = await run({
      model: 'rw-register',
      isolation: 'repeatable-read',
      clients: 6,
      transactions: 400,
      keys: 3,
      seed: 2,
    })
    const result = check(history, { model: 'rw-register', isolation: guarantee })
    expect(result.transactions.fail).toBeGreaterThan(0)
    expect(result.anomalyTypes).toContain('G2-item')
    expect(result.anomalyTypes).not.toContain('lost-update')
    expect(result.anomalyTypes).not.toContain('G-single')
    expect(result.valid).toBe(true)
    expect(check(history, { model: 'rw-register', isolation: 'serializable' }).valid).toBe(false)
  })

  test('REPEATABLE READ list-append shows write skew as G2-item', async () => {
    const { history } = await run({
      model: 'list-append',
      isolation: 'repeatable-read',
      clients: 6,
      transactions: 400,
      keys: 4,
      seed: 3,
    })
    const result = check(history, { model: 'list-append', isolation: 'snapshot-isolation' })
    expect(result.anomalyTypes).toContain('G2-item')
    expect(result.valid).toBe(true)
  })

  test.each(['rw-register', 'list-append'] as const)(
    'SERIALIZABLE %s: no anomaly at all, in real-time order too',
    async (model) => {
      const { history } = await run({
        model,
        isolation: 'serializable',
        clients: 6,
        transactions: 600,
        keys: 3,
        seed: 4,
      })
      const result = check(history, {
        model,
        isolation: 'strict-serializable',
        realtime: true,
        processOrder: true,
      })
      expect(result.anomalies.map((a) => `${a.type}: ${a.description}`)).toEqual([])
      // Meaningful only if many transactions committed under contention and many were refused.
      expect(result.transactions.ok).toBeGreaterThan(200)
      expect(result.transactions.fail).toBeGreaterThan(20)
    },
  )

  // Bigger runs make "nothing at SERIALIZABLE" a stronger claim; too slow for every npm test.
  describe.runIf(process.env.PGRIG_SLOW === '1')('longer runs (PGRIG_SLOW=1)', () => {
    test.each(['rw-register', 'list-append'] as const)(
      'SERIALIZABLE %s: no anomaly in 4,000 transactions from 10 clients',
      async (model) => {
        const { history } = await run({
          model,
          isolation: 'serializable',
          clients: 10,
          transactions: 4000,
          keys: 5,
        })
        const result = check(history, {
          model,
          isolation: 'strict-serializable',
          realtime: true,
          processOrder: true,
        })
        expect(result.anomalies.map((a) => `${a.type}: ${a.description}`)).toEqual([])
        expect(result.transactions.ok).toBeGreaterThan(1500)
      },
      300_000,
    )

    test('READ COMMITTED list-append shows read skew (G-single)', async () => {
      const { history } = await run({
        model: 'list-append',
        isolation: 'read-committed',
        clients: 10,
        transactions: 2000,
        keys: 4,
      })
      const result = check(history, { model: 'list-append', isolation: 'read-committed' })
      expect(result.anomalyTypes).toContain('G-single')
      expect(result.valid).toBe(true)
    }, 300_000)
  })

  test('bad options are refused in one line', async () => {
    await expect(run({ model: 'rw-register', isolation: 'snapshot' as never })).rejects.toThrow(
      /^Unknown isolation "snapshot"; use 'read-committed', 'repeatable-read' or 'serializable'\.$/,
    )
    await expect(run({ model: 'rw-register', isolation: 'serializable', clients: 0 })).rejects.toThrow(
      'Workload option clients must be a positive integer, got 0.',
    )
    await expect(
      run({ model: 'list-append', isolation: 'serializable', distribution: 'zipf' as never }),
    ).rejects.toThrow(`Unknown key distribution "zipf"; use 'uniform' or 'exponential'.`)
  })
})
