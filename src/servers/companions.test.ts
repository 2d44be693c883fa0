import { spawn, type ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import { afterEach, expect, test } from 'vitest'
import {
  isCompanionAlive,
  listCompanions,
  livePidOf,
  recordCompanion,
  stopCompanion,
  stopCompanions,
} from './companions.js'
import { isAlive, waitUntil } from './process-alive.js'
import { PROCESS_TAG_ENV, processTag, startTimeOf, taggedPids } from './process-tree.js'
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

test('a pid whose start time differs is a stranger, even running the recorded program', async () => {
  const stranger = longRunning('redis-server')
  const startTime = startTimeOf(stranger)!
  const record = {
    name: 'redis',
    pid: stranger,
    command: 'redis-server',
    group: true,
    startTime: startTime - 1,
  }
  expect(isCompanionAlive(record)).toBe(false)
  await stopCompanion(record)
  expect(isAlive(stranger)).toBe(true)
})

test('after exec the pid is still the companion: alive, found, stopped', async () => {
  const runId = newRun()
  const child = spawn('sh', ['-c', 'exec sleep 30'], { stdio: 'ignore', detached: true })
  children.push(child)
  const record = {
    name: 'svc',
    pid: child.pid!,
    command: 'sh',
    group: true,
    startTime: startTimeOf(child.pid!)!,
  }
  recordCompanion(runId, record)
  await waitUntil(() => !fs.readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').startsWith('sh'), 2_000)
  expect(isCompanionAlive(record)).toBe(true)
  expect(livePidOf(record)).toBe(child.pid)
  await stopCompanions(runId)
  expect(await waitUntil(() => !isAlive(child.pid!), 2_000)).toBe(true)
})

test('a tagged process that left the group is found by its tag and stopped', async () => {
  const runId = newRun()
  const tag = processTag(runId, 'svc')
  // setsid: a session (and group) of its own, as a double-forking daemon makes
  const child = spawn('setsid', ['sleep', '31'], {
    stdio: 'ignore',
    env: { ...process.env, [PROCESS_TAG_ENV]: tag },
  })
  children.push(child)
  await waitUntil(() => taggedPids(tag).length > 0, 2_000)
  const record = { name: 'svc', pid: 0, command: 'sleep', tag }
  expect(isCompanionAlive(record)).toBe(true)
  await stopCompanion(record)
  expect(taggedPids(tag)).toEqual([])
})
