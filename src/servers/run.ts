import path from 'node:path'
import { listCompanions } from './companions.js'
import { spawnReaper } from './reaper.js'
import {
  claimServerName,
  createRunDir,
  newRunId,
  releaseServerName,
  removeRunDirs,
  writeState,
  type RunProject,
} from './run-dir.js'
import { reapStaleRunsOnce } from './teardown.js'
import type { ServerInfo } from './server-info.js'

/**
 * A run: the servers one owner started, their folders and the state file other shells read.
 * An owned run dies with its process (a reaper sees to it); a detached run (`pgrig up`) lives
 * until `pgrig down`.
 */
export class Run {
  readonly runId = newRunId()
  readonly dir: string
  readonly createdAt = new Date().toISOString()
  private readonly servers = new Map<string, ServerInfo>()
  private readonly names = new Set<string>()
  /** Names claimed among every run (see `claimName`). */
  private readonly claims = new Set<string>()
  private starting = 0
  private closed = false
  private readonly buildDirs = new Set<string>()

  constructor(
    private isDetached: boolean,
    /** The project a `reuse` run belongs to, written into the state so only that project adopts it. */
    readonly project?: RunProject,
  ) {
    this.dir = createRunDir(this.runId)
    // A detached run has a reaper too: it tears the run down when the owner dies in the middle of
    // a start (Ctrl-C or SIGKILL of `pgrig up`) and does nothing once every start has finished.
    spawnReaper(this.runId)
    this.save()
  }

  get detached(): boolean {
    return this.isDetached
  }

  /**
   * Lets the run outlive its owner (a test run that kept a failed test's database keeps its server
   * for a look): the reaper leaves it alone, and `pgrig status` / `pgrig down` treat it as `pgrig up`'s.
   */
  detach(): void {
    this.isDetached = true
    this.save()
  }

  /** Marks a start as under way until `endStart()`; an owner dying meanwhile takes the run down. */
  beginStart(): void {
    this.starting++
    this.save()
  }

  endStart(): void {
    this.starting = Math.max(0, this.starting - 1)
    this.save()
  }

  /** A data dir where a postmaster may run for this run's sake outside the run's folders (a template build). */
  watchBuild(dataDir: string): void {
    this.buildDirs.add(dataDir)
    this.save()
  }

  unwatchBuild(dataDir: string): void {
    if (this.buildDirs.delete(dataDir)) this.save()
  }

  get certDir(): string {
    return path.join(this.dir, 'certs')
  }

  /**
   * Reserves a name in this run: `main`, then `main-2`, … unless the caller insisted on one. A
   * server's name in a detached run (`acrossRuns`) is claimed among every run of this user too,
   * atomically, so concurrent `pgrig up`s never share one and `pgrig down <name>` stops one server.
   */
  claimName(
    name: string,
    explicit: boolean,
    takenElsewhere: Set<string> = new Set(),
    acrossRuns = false,
  ): string | undefined {
    const free = (n: string) => {
      if (this.names.has(n) || takenElsewhere.has(n)) return false
      if (!acrossRuns || !this.isDetached) return true
      if (!claimServerName(n, this.runId)) return false
      this.claims.add(n)
      return true
    }
    let chosen = name
    if (!free(chosen)) {
      if (explicit) return undefined
      for (let i = 2; !free(chosen); i++) chosen = `${name}-${i}`
    }
    this.names.add(chosen)
    return chosen
  }

  releaseName(name: string): void {
    if (this.claims.delete(name)) releaseServerName(name, this.runId)
    this.names.delete(name)
    this.servers.delete(name)
    this.save()
  }

  record(server: ServerInfo): void {
    this.servers.set(server.name, server)
    this.save()
  }

  /** Puts the servers in the order of `names` (the config's), whatever order their starts finished in. */
  order(names: string[]): void {
    const rank = (name: string) => names.indexOf(name) // -1: recorded before, stays first
    const sorted = [...this.servers.values()].sort((a, b) => rank(a.name) - rank(b.name))
    this.servers.clear()
    for (const server of sorted) this.servers.set(server.name, server)
    this.save()
  }

  list(): ServerInfo[] {
    return [...this.servers.values()]
  }

  /**
   * Removes a detached run's folders once no server of it is left. The process's own run stays
   * (with its reaper and CA) for the next start; its reaper removes it when the process exits, or
   * `closeOwnedRun()` does earlier.
   */
  closeIfEmpty(): void {
    if (this.names.size > 0 || !this.detached) return
    this.closed = true
    removeRunDirs(this.runId)
  }

  private save(): void {
    // a closed run has no folder left to write to
    if (this.closed) return
    writeState({
      runId: this.runId,
      ownerPid: process.pid,
      detached: this.detached,
      createdAt: this.createdAt,
      servers: this.list(),
      ...(this.starting > 0 ? { starting: this.starting } : {}),
      ...(this.buildDirs.size > 0 ? { buildDirs: [...this.buildDirs] } : {}),
      ...(this.project ? { project: this.project } : {}),
    })
  }
}

let owned: Run | undefined

/** The run that library calls in this process share; created on first use. */
export async function ownedRun(): Promise<Run> {
  // Checked again after the await: calls made at once (a version matrix starts every version's
  // servers together) must all get the one run, not one run each.
  if (!owned) await reapStaleRunsOnce()
  owned ??= new Run(false)
  return owned
}

/** Removes this process's run now when it has no servers left (the CLI does this before exiting). */
export function closeOwnedRun(): void {
  if (!owned || owned.list().length > 0 || listCompanions(owned.runId).length > 0) return
  removeRunDirs(owned.runId)
  owned = undefined
}

export async function detachedRun(project?: RunProject): Promise<Run> {
  await reapStaleRunsOnce()
  return new Run(true, project)
}

/** The run a start joins: the one it was given, else a new detached one when asked, else this process's own. */
export function joinedRun(options: { run?: Run | undefined; detached?: boolean | undefined }): Promise<Run> {
  if (options.run) return Promise.resolve(options.run)
  return options.detached ? detachedRun() : ownedRun()
}
