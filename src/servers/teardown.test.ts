import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { startServer } from './start-server.js'
import { isAlive } from './process-alive.js'
import { listRunIds, readState, writeState } from './run-dir.js'
import { reapStaleRuns } from './teardown.js'

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-stale-'))
fs.chmodSync(root, 0o755)
process.env.PGRIG_RUN_ROOT = root
afterAll(() => fs.rmSync(root, { recursive: true, force: true }))

function deadPid(): number {
  return spawnSync('true').pid ?? 999_999
}

test('runs of dead owners are stopped and removed; live and detached-with-servers runs are kept', async () => {
  const detached = await startServer({ name: 'stale-detached', detached: true })
  const orphan = await startServer({ name: 'stale-orphan', detached: true })
  // Make the second run look like an owned run whose owner died without its reaper finishing.
  const state = readState(orphan.runId)!
  writeState({ ...state, detached: false, ownerPid: deadPid() })
  fs.mkdirSync(path.join(root, `pgrig-${process.getuid?.() ?? 0}`, 'leftover'), { recursive: true })
  fs.utimesSync(path.join(root, `pgrig-${process.getuid?.() ?? 0}`, 'leftover'), new Date(0), new Date(0))

  await reapStaleRuns()

  expect(isAlive(orphan.pid)).toBe(false)
  expect(isAlive(detached.pid)).toBe(true)
  expect(listRunIds().sort()).toEqual([detached.runId])
  await detached.stop()
  expect(listRunIds()).toEqual([])
})
