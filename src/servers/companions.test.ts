import { spawn, type ChildProcess } from 'node:child_process'
import { afterEach, expect, test } from 'vitest'
import { listCompanions, recordCompanion, stopCompanions } from './companions.js'
import { isAlive, waitUntil } from './process-alive.js'
import { createRunDir, newRunId, removeRunDirs } from './run-dir.js'

const children: ChildProcess[] = []
const runs: string[] = []
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL')
  for (const runId of runs.splice(0)) removeRunDirs(runId)
})

function longRunning(title: string): number {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', title], { stdio: 'ignore' })
  children.push(child)
  return child.pid!
}

function newRun(): string {
  const runId = newRunId()
  createRunDir(runId)
  runs.push(runId)
  return runId
}

test("a run's companions are stopped with it", async () => {
  const runId = newRun()
  const pid = longRunning('pgrig-companion-under-test')
  recordCompanion(runId, { name: 'redis', pid, command: 'pgrig-companion-under-test' })
  expect(listCompanions(runId)).toEqual([{ name: 'redis', pid, command: 'pgrig-companion-under-test' }])

  await stopCompanions(runId)
  expect(await waitUntil(() => !isAlive(pid), 2_000)).toBe(true)
})

test('a recorded pid now used by another program is left alone', async () => {
  const runId = newRun()
  const stranger = longRunning('some-other-program')
  recordCompanion(runId, { name: 'redis', pid: stranger, command: 'redis-server' })

  await stopCompanions(runId)
  expect(isAlive(stranger)).toBe(true)
})
