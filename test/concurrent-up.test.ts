import { afterAll, expect, test } from 'vitest'
import { privateRunRoot } from './support/run-root.js'
import { pgrig } from './support/cli.js'

// Names are claimed atomically: `pgrig up`s started at the same moment never share a name, so
// `pgrig down <name>` stops one server (issue 21, item 3).
privateRunRoot('concurrent-up')

afterAll(async () => {
  await pgrig(['down', '--all'])
})

interface Status {
  servers: { name: string; alive: boolean; runId: string }[]
}

async function aliveNames(): Promise<string[]> {
  const out = await pgrig(['status', '--json'])
  expect(out.code, out.stderr).toBe(0)
  return (JSON.parse(out.stdout) as Status).servers.filter((s) => s.alive).map((s) => s.name)
}

test('five concurrent ups of one name: one server of that name, four one-line refusals', async () => {
  const outs = await Promise.all(Array.from({ length: 5 }, () => pgrig(['up', '--name', 'same'])))
  const started = outs.filter((o) => o.code === 0)
  const refused = outs.filter((o) => o.code !== 0)
  expect(started, outs.map((o) => o.stderr).join('\n')).toHaveLength(1)
  expect(refused).toHaveLength(4)
  for (const out of refused) {
    expect(out.stderr.trim().split('\n')).toEqual([
      'pgrig: a server named same is already running; stop it (pgrig down same) or choose another name',
    ])
  }
  expect(await aliveNames()).toEqual(['same'])
  const down = await pgrig(['down', 'same'])
  expect(down.code, down.stderr).toBe(0)
  expect(await aliveNames()).toEqual([])
  // The name is free again once its server is down.
  const again = await pgrig(['up', '--name', 'same'])
  expect(again.code, again.stderr).toBe(0)
  expect(await aliveNames()).toEqual(['same'])
  expect((await pgrig(['down', 'same'])).code).toBe(0)
}, 180_000)

test('five concurrent ups without a name: five servers with distinct names, down stops one', async () => {
  const outs = await Promise.all(Array.from({ length: 5 }, () => pgrig(['up'])))
  for (const out of outs) expect(out.code, out.stderr).toBe(0)
  const names = await aliveNames()
  expect(names).toHaveLength(5)
  expect(new Set(names).size).toBe(5)
  expect(names).toContain('main')
  const down = await pgrig(['down', 'main'])
  expect(down.code, down.stderr).toBe(0)
  const left = await aliveNames()
  expect(left.sort()).toEqual(names.filter((n) => n !== 'main').sort())
  // A name freed by down is handed out again.
  const next = await pgrig(['up', '--json'])
  expect(next.code, next.stderr).toBe(0)
  expect((JSON.parse(next.stdout) as Status).servers[0]?.name).toBe('main')
}, 180_000)
