import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { privateRunRoot } from '../../test/support/run-root.js'
import { listRuns } from '../servers/run-dir.js'
import { teardownRun } from '../servers/teardown.js'
import { startRunDatabases, type PgrigOptions } from './run-databases.js'

privateRunRoot('reuse')

const projects = ['a', 'b'].map((name) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pgrig-reuse-${name}-`))
  fs.mkdirSync(path.join(dir, 'migrations'))
  fs.writeFileSync(path.join(dir, 'migrations', '001_init.sql'), `create table ${name}_notes (id int);`)
  return dir
})

afterAll(async () => {
  for (const run of listRuns().filter((r) => r.detached)) await teardownRun(run.runId)
  for (const dir of projects) fs.rmSync(dir, { recursive: true, force: true })
})

/** Starts a test run's databases with reuse in `cwd`, and says which server it got. */
async function serverOf(cwd: string, extra: PgrigOptions = {}) {
  const databases = await startRunDatabases({ cwd, reuse: true, migrations: './migrations', ...extra })
  try {
    return { pid: databases.server.pid, name: databases.server.name, template: databases.template.name }
  } finally {
    await databases.close()
  }
}

test('reuse: two projects side by side each get their own server; a project adopts only its own, with the same options', async () => {
  const [a, b] = projects as [string, string]
  const firstA = await serverOf(a)
  // Another project on the same machine: its own server, never the one project a left up.
  const firstB = await serverOf(b)
  expect(firstB.pid).not.toBe(firstA.pid)
  expect(firstB.name).not.toBe(firstA.name)
  // Each adopts its own the next time, both at once.
  const [againA, againB] = await Promise.all([serverOf(a), serverOf(b)])
  expect(againA.pid).toBe(firstA.pid)
  expect(againB.pid).toBe(firstB.pid)
  expect(againA.template).toBe(firstA.template)
  // The same folder with other server options is another config: not adopted either.
  const otherConfig = await serverOf(a, { server: { settings: { work_mem: '8MB' } } })
  expect([firstA.pid, firstB.pid]).not.toContain(otherConfig.pid)
  // Each run's state names its project.
  const roots = listRuns()
    .filter((r) => r.detached)
    .map((r) => r.project?.root)
  expect(roots.sort()).toEqual([a, a, b].map((dir) => fs.realpathSync(dir)).sort())
}, 180_000)
