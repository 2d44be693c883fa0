import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { PgrigError } from '../errors.js'
import { diskFull, isDiskFull } from './disk-full.js'
import { makeDir } from './make-dir.js'
import { isAlive } from './process-alive.js'
import { assertSafeFolder, ensureSafeFolder, unsafeFolderReason } from './safe-folder.js'
import type { ServerInfo } from './server-info.js'

/** What `pgrig status` / `down` in another shell read to find a run's servers. */
export interface RunState {
  runId: string
  /** The process whose death ends the run; for detached runs (`pgrig up`), the process that started it. */
  ownerPid: number
  detached: boolean
  createdAt: string
  servers: ServerInfo[]
  /**
   * Server starts under way. While one is, the run's reaper tears the run down when the owner dies,
   * detached or not: an interrupted `pgrig up` leaves nothing behind.
   */
  starting?: number
  /** Data dirs of template builds a start waits on (a postmaster runs there for a moment); stopped with the run. */
  buildDirs?: string[]
  /** The project whose test run left this run up (`reuse: true`): only that project adopts it. */
  project?: RunProject
}

/** Which project a run belongs to: its folder and a hash of the options its servers were started with. */
export interface RunProject {
  root: string
  configHash: string
}

const uid = () => (typeof process.getuid === 'function' ? process.getuid() : 0)

export function runsRoot(): string {
  return path.join(runsBase(), `pgrig-${uid()}`)
}

function runsBase(): string {
  const explicit = process.env.PGRIG_RUN_ROOT
  if (explicit === undefined) return os.tmpdir()
  // Sockets and state files are found by this path from any shell: it must name one folder.
  if (!path.isAbsolute(explicit)) {
    throw new PgrigError(
      'E_RUN_DIR_UNREACHABLE',
      `PGRIG_RUN_ROOT is ${explicit === '' ? 'empty' : `a relative path (${explicit})`}, and pgrig keeps sockets and logs under it for every shell to find; set it to an absolute folder (e.g. /tmp) or unset it`,
    )
  }
  return explicit
}

/** The folder the runs root goes in must exist and be writable: one line instead of a stack (or a hang under /proc). */
function checkRunsBase(): void {
  const from = process.env.PGRIG_RUN_ROOT ? 'PGRIG_RUN_ROOT' : 'the temporary folder (TMPDIR)'
  const options = {
    what: `${from}, where pgrig keeps its runs`,
    code: 'E_RUN_DIR_UNREACHABLE' as const,
    hint: `set ${process.env.PGRIG_RUN_ROOT ? 'PGRIG_RUN_ROOT' : 'TMPDIR'} to a folder you can write, e.g. /tmp`,
  }
  makeDir(runsBase(), { ...options, mustExist: true })
  makeDir(runsRoot(), options)
}

/** Where throwaway data dirs go when tmpfs is used: copying and fsync-free writes there cost almost nothing. */
export function tmpfsRoot(): string | undefined {
  const base = process.env.PGRIG_TMPFS_DIR ?? '/dev/shm'
  try {
    fs.accessSync(base, fs.constants.W_OK)
    const stats = fs.statfsSync(base)
    // Leave the data dir on disk when the tmpfs is nearly full rather than fail mid-test with ENOSPC.
    if (stats.bavail * stats.bsize < 512 * 1024 * 1024) return undefined
    return path.join(base, `pgrig-${uid()}`)
  } catch {
    return undefined
  }
}

export function newRunId(): string {
  // Lower-case letters and digits only, so the id can be part of database names later.
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'
  return Array.from(randomBytes(8), (b) => alphabet[b % alphabet.length]).join('')
}

export function runDirOf(runId: string): string {
  return path.join(runsRoot(), runId)
}

const RUN_ROOT_HINT = 'remove it, or set PGRIG_RUN_ROOT to another folder (pgrig makes pgrig-<uid> inside it)'
const TMPFS_HINT = 'remove it, or set PGRIG_TMPFS_DIR to another folder (or tmpfs: false)'

/** The per-user run root, checked: made if absent, refused when it is not this user's own. */
export function ensureRunsRoot(): string {
  ensureSafeFolder(runsRoot(), 0o755, RUN_ROOT_HINT)
  return runsRoot()
}

/** The per-user tmpfs root, checked like the run root. */
export function ensureTmpfsRoot(root: string): void {
  ensureSafeFolder(root, 0o755, TMPFS_HINT)
}

/** A per-user root to read or clean up in, skipped when it is not this user's own (someone else's files). */
function usableRoot(root: string | undefined): root is string {
  return root !== undefined && unsafeFolderReason(root) === undefined
}

export function usableTmpfsRoot(): string | undefined {
  const root = tmpfsRoot()
  return usableRoot(root) ? root : undefined
}

export function createRunDir(runId: string): string {
  const dir = runDirOf(runId)
  checkRunsBase()
  for (let attempt = 1; ; attempt++) {
    try {
      ensureRunsRoot()
      // Not recursive: the folder is new, ours, and no link someone planted.
      fs.mkdirSync(dir, { mode: 0o755 })
      // Made with the umask; the unprivileged server user must traverse it.
      fs.chmodSync(dir, 0o755)
      return dir
    } catch (error) {
      // another process's removeRunDirs may remove the empty root between our mkdir and chmod
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt >= 3) throw error
    }
  }
}

export function writeState(state: RunState): void {
  const dir = runDirOf(state.runId)
  const file = path.join(dir, 'state.json')
  const temp = `${file}.${process.pid}.tmp`
  try {
    // The state holds passwords: readable by the owner only.
    fs.writeFileSync(temp, JSON.stringify(state, null, 2), { mode: 0o600 })
    fs.renameSync(temp, file)
  } catch (error) {
    fs.rmSync(temp, { force: true })
    if (isDiskFull(error)) throw diskFull(`writing the run's state ${file}`, dir, error)
    throw error
  }
}

export function readState(runId: string): RunState | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(runDirOf(runId), 'state.json'), 'utf8')) as RunState
  } catch {
    return undefined
  }
}

export function listRunIds(): string[] {
  // A root someone else made could hold runs that are not ours, or hide ours: say so instead.
  assertSafeFolder(runsRoot(), RUN_ROOT_HINT)
  try {
    return fs
      .readdirSync(runsRoot(), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
  } catch {
    return []
  }
}

export function listRuns(): RunState[] {
  return listRunIds()
    .map(readState)
    .filter((state): state is RunState => state !== undefined)
}

const CLAIM_PREFIX = '.name-'

function claimFile(name: string): string {
  return path.join(runsRoot(), `${CLAIM_PREFIX}${encodeURIComponent(name)}`)
}

/**
 * A claim is stale once its run is gone or cannot hold the name any more: no state, an owner that
 * died (an owned run), or a detached run that neither starts nor records the server. A fresh claim
 * counts as held: its run records the server only once it is up.
 */
function claimHeld(file: string, runId: string, name: string): boolean {
  const state = readState(runId)
  if (!state) return false
  if (!state.detached) return isAlive(state.ownerPid)
  if (state.starting || state.servers.some((server) => server.name === name)) return true
  try {
    return Date.now() - fs.lstatSync(file).mtimeMs < 30_000
  } catch {
    return false
  }
}

/**
 * Claims a server name for `runId` among every run of this user, atomically: a symlink in the run
 * root named after the server, pointing at the run, is made or it is not (EEXIST). Of any number
 * of `pgrig up --name same` at once, one gets the name. A stale claim (its run gone) is taken over.
 */
export function claimServerName(name: string, runId: string): boolean {
  const file = claimFile(name)
  ensureRunsRoot()
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      fs.symlinkSync(runId, file)
      return true
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    let holder: string
    try {
      holder = fs.readlinkSync(file)
    } catch {
      continue // released meanwhile: try again
    }
    if (holder === runId) return true
    if (claimHeld(file, holder, name)) return false
    dropStaleClaim(file, holder)
  }
  return false
}

/**
 * Moves the claim aside before removing it, so a claim another process made in the meantime is
 * never removed: one that is not the stale one is put back.
 */
function dropStaleClaim(file: string, holder: string): void {
  const aside = `${file}.stale-${process.pid}-${randomBytes(4).toString('hex')}`
  try {
    fs.renameSync(file, aside)
  } catch {
    return
  }
  try {
    const moved = fs.readlinkSync(aside)
    if (moved !== holder) fs.symlinkSync(moved, file)
  } catch {
    // another claim took its place: that one stands
  } finally {
    fs.rmSync(aside, { force: true })
  }
}

/** Gives up a run's claim on a server name (only its own). */
export function releaseServerName(name: string, runId: string): void {
  const file = claimFile(name)
  try {
    if (fs.readlinkSync(file) === runId) fs.rmSync(file, { force: true })
  } catch {
    // not claimed
  }
}

function releaseClaimsOf(runId: string): void {
  let entries: string[]
  try {
    entries = fs.readdirSync(runsRoot()).filter((entry) => entry.startsWith(CLAIM_PREFIX))
  } catch {
    return
  }
  for (const entry of entries) {
    const file = path.join(runsRoot(), entry)
    try {
      if (fs.readlinkSync(file) === runId) fs.rmSync(file, { force: true })
    } catch {
      // gone meanwhile
    }
  }
}

/** Removes a run's folders and its name claims, and the per-user roots once they are empty. */
export function removeRunDirs(runId: string): void {
  if (usableRoot(runsRoot())) releaseClaimsOf(runId)
  const roots = [runsRoot(), tmpfsRoot()].filter(usableRoot)
  for (const root of roots) {
    // maxRetries: a server killed a moment ago may still be writing files (ENOTEMPTY)
    fs.rmSync(path.join(root, runId), { recursive: true, force: true, maxRetries: 5 })
    try {
      fs.rmdirSync(root)
    } catch {
      // not empty: other runs still live there
    }
  }
}
