import fs from 'node:fs'
import path from 'node:path'
import { pruneDiedLogs } from './died-logs.js'
import {
  forgetCompanion,
  isCompanionAlive,
  listCompanions,
  stopCompanion,
  stopCompanions,
} from './companions.js'
import { livePostmasterPid, isAlive, postmastersUnder } from './process-alive.js'
import { haltPostmaster, waitExited } from './postmaster.js'
import {
  listRunIds,
  readState,
  releaseServerName,
  removeRunDirs,
  runDirOf,
  usableTmpfsRoot,
  writeState,
  type RunState,
} from './run-dir.js'

/** Every data dir a run may hold, from its state and from disk: a server may have started before the state was written. */
function dataDirsOf(runId: string, state: RunState | undefined): string[] {
  const dirs = new Set<string>(state?.buildDirs ?? [])
  for (const server of state?.servers ?? []) if (server.dataDir) dirs.add(server.dataDir)
  for (const root of [usableTmpfsRoot(), runDirOf(runId)]) {
    if (!root) continue
    const base = root === runDirOf(runId) ? root : path.join(root, runId)
    try {
      for (const entry of fs.readdirSync(base, { withFileTypes: true })) {
        if (!entry.isDirectory()) continue
        dirs.add(path.join(base, entry.name))
        dirs.add(path.join(base, entry.name, 'data'))
      }
    } catch {
      // no such folder
    }
  }
  return [...dirs]
}

/** The folders a run's postmasters can have their data dir in. */
function rootsOf(runId: string, state: RunState | undefined): string[] {
  const tmpfs = usableTmpfsRoot()
  return [runDirOf(runId), ...(tmpfs ? [path.join(tmpfs, runId)] : []), ...(state?.buildDirs ?? [])]
}

/** Postmasters of a run: by their pid files, and by their command lines (one may not have written its pid file yet). */
function livePostmasters(runId: string, state: RunState | undefined): number[] {
  const pids = new Set(postmastersUnder(rootsOf(runId, state)))
  for (const dir of dataDirsOf(runId, state)) {
    const pid = livePostmasterPid(dir)
    if (pid !== undefined) pids.add(pid)
  }
  return [...pids]
}

/** Stops whatever still runs in a run's data dirs and removes the run's folders. */
export async function teardownRun(runId: string): Promise<void> {
  const state = readState(runId)
  // The command of `pgrig run` first: it must not see its servers go (`the database system is shutting down`).
  await stopCompanions(runId, (record) => record.withOwner === true)
  const stopped = livePostmasters(runId, state)
  await Promise.all([...stopped.map((pid) => haltPostmaster(pid)), stopCompanions(runId)])
  // An owner killed in the middle of spawning a server (or its command): that process may have appeared meanwhile.
  // A detached run whose starts all finished (`pgrig up` returned) spawns nothing more.
  if (!state?.detached || state.starting) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    await stopCompanions(runId, (record) => record.withOwner === true)
    const late = livePostmasters(runId, state)
    await Promise.all(late.map((pid) => haltPostmaster(pid)))
    stopped.push(...late)
  }
  removeBuildDirs(state)
  removeRunDirs(runId)
  // Exited, not necessarily reaped: a detached server's parent is init, which reaps on its own time.
  await Promise.all(stopped.map((pid) => waitExited(pid)))
}

/**
 * A template build the owner did not finish (killed mid-build): its work folder (`.build-…` beside
 * the templates, holding a whole initdb'd data dir) would otherwise stay on the tmpfs for good.
 */
function removeBuildDirs(state: RunState | undefined): void {
  for (const dataDir of state?.buildDirs ?? []) {
    const work = path.dirname(dataDir)
    if (path.basename(work).startsWith('.build-')) {
      fs.rmSync(work, { recursive: true, force: true, maxRetries: 5 })
    }
  }
}

/** Stops one named server of a run and drops it from the run's state; the run goes when it is empty. */
export async function teardownServer(runId: string, name: string): Promise<void> {
  const state = readState(runId)
  if (!state) return
  const server = state.servers.find((s) => s.name === name)
  const pid = server?.dataDir ? livePostmasterPid(server.dataDir) : undefined
  if (server?.dataDir) {
    if (pid) await haltPostmaster(pid)
    fs.rmSync(server.dataDir, { recursive: true, force: true, maxRetries: 5 })
    fs.rmSync(path.join(runDirOf(runId), name), { recursive: true, force: true, maxRetries: 5 })
  }
  releaseServerName(name, runId)
  const rest = state.servers.filter((s) => s.name !== name)
  // The run's last server: its services (an S3 store the tests used with it) go with it.
  if (rest.length === 0 && (state.detached || !isAlive(state.ownerPid))) await teardownRun(runId)
  else writeState({ ...state, servers: rest })
  if (pid) await waitExited(pid)
}

/** Stops one companion (a configured service) of a run; the run goes when nothing of it is left. */
export async function teardownCompanion(runId: string, name: string): Promise<void> {
  const record = listCompanions(runId).find((r) => r.name === name)
  if (!record) return
  await stopCompanion(record)
  forgetCompanion(runId, name)
  if (record.service) {
    fs.rmSync(path.dirname(record.service.dir), { recursive: true, force: true, maxRetries: 5 })
  }
  const state = readState(runId)
  const empty = (state?.servers.length ?? 0) === 0 && listCompanions(runId).length === 0
  if (empty && (!state || state.detached || !isAlive(state.ownerPid))) removeRunDirs(runId)
}

function serversAlive(runId: string, state: RunState | undefined): boolean {
  return livePostmasters(runId, state).length > 0 || listCompanions(runId).some(isCompanionAlive)
}

/**
 * Cleans up runs whose owner died without a reaper finishing the job (machine reboot, reaper
 * killed too) and detached runs whose servers are all gone. Never touches a live owner's run.
 */
export async function reapStaleRuns(): Promise<void> {
  const now = Date.now()
  for (const runId of listRunIds()) {
    const state = readState(runId)
    if (!state) {
      // A run being created has no state for a moment; only old stateless folders are debris.
      const age = now - safeMtime(runDirOf(runId))
      if (age > 60_000 && !serversAlive(runId, undefined)) removeRunDirs(runId)
      continue
    }
    if (state.starting && !isAlive(state.ownerPid)) {
      // its owner died in the middle of a start, and so did the reaper that should have taken it down
      await teardownRun(runId)
    } else if (state.detached) {
      if (!serversAlive(runId, state) && now - Date.parse(state.createdAt) > 5_000) removeRunDirs(runId)
    } else if (!isAlive(state.ownerPid)) {
      await teardownRun(runId)
    }
  }
  pruneDiedLogs()
}

function safeMtime(dir: string): number {
  try {
    return fs.statSync(dir).mtimeMs
  } catch {
    return 0
  }
}

let reaped: Promise<void> | undefined

/** Once per process is enough: stale runs do not appear while we run. */
export function reapStaleRunsOnce(): Promise<void> {
  reaped ??= reapStaleRuns().catch(() => {})
  return reaped
}
