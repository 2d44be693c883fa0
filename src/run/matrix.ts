import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { startServers, type StartedServer } from '../servers/start-server.js'
import type { ServerSpec } from '../config/resolve.js'
import type { ServiceSpec } from '../config/services.js'
import { isPgrigError } from '../errors.js'
import { startServices } from '../services/services.js'
import { FORWARDED_SIGNALS, runCommand } from './command.js'
import { describeServer } from './describe.js'
import { commandEnv } from './env.js'
import { mergeVersionReports } from './merge-reports.js'

export interface MatrixOptions {
  /** PostgreSQL versions as the user wrote them (`15`, `16.4`); one run each. */
  versions: string[]
  /** The command and its arguments, run once per version. */
  command: string[]
  /** The servers one version's run needs (the config's servers with `pg` set to that version). */
  specsFor: (version: string) => Promise<ServerSpec[]>
  /** Each run writes its reports under `<reportDir>/pg<version>`. */
  reportDir: string
  /** How many versions run at once (1: one after the other). */
  concurrency: number
  /** Extra variables every run gets on top of `process.env` (e.g. `PGRIG_ONLY`). */
  env?: Record<string, string>
  /** Started once, before any version, for every version's command (each version gets its own servers). */
  services?: ServiceSpec[]
  /** Print nothing about the servers (the command's own output still shows). */
  quiet?: boolean
  stdout?: NodeJS.WritableStream
  stderr?: NodeJS.WritableStream
}

export interface VersionResult {
  version: string
  /** The command's exit code; 1 when the servers did not start; 130 when interrupted before starting. */
  exitCode: number
  durationMs: number
  reportDir: string
  /** Why the command never ran, when it did not. */
  error?: string
}

export interface MatrixResult {
  results: VersionResult[]
  /** 0 when every version passed, 130 on interrupt, else the first failing version's code. */
  exitCode: number
  /** The combined HTML report in `reportDir`, when the runs wrote pgrig reports. */
  report?: string
}

/** One version at a time per core: each run is a test suite with its own servers. */
export function defaultConcurrency(versions: number): number {
  return Math.max(1, Math.min(versions, os.availableParallelism()))
}

/**
 * Runs a command once per PostgreSQL version, each against its own servers, with every output
 * line prefixed by its version; Ctrl-C (or SIGTERM) stops every run and every server.
 */
export async function runMatrix(options: MatrixOptions): Promise<MatrixResult> {
  const services = await startServices(options.services ?? [])
  try {
    return await runVersions({ ...options, env: { ...options.env, ...services.env } })
  } finally {
    await services.stop()
  }
}

async function runVersions(options: MatrixOptions): Promise<MatrixResult> {
  const stdout = options.stdout ?? process.stdout
  const stderr = options.stderr ?? process.stderr
  const width = Math.max(...options.versions.map((v) => v.length)) + 2
  // Each running command gets the signal from runCommand; this stops the versions not yet started.
  let interrupted = false
  const onSignal = () => (interrupted = true)
  for (const sig of FORWARDED_SIGNALS) process.on(sig, onSignal)

  const runOne = async (version: string): Promise<VersionResult> => {
    const started = Date.now()
    const prefix = `pg${version}`.padEnd(width) + ' | '
    const reportDir = path.resolve(options.reportDir, `pg${version}`)
    const result = (exitCode: number, error?: string): VersionResult => ({
      version,
      exitCode,
      durationMs: Date.now() - started,
      reportDir,
      ...(error !== undefined ? { error } : {}),
    })
    if (interrupted) return result(130, 'interrupted before it started')
    let startedServers: StartedServer[] = []
    try {
      const specs = await options.specsFor(version)
      // Every version's servers share this process's run, so names carry the version; the
      // command still sees the names it asked for (PGRIG_MAIN_URL, not PGRIG_MAIN_PG15_URL).
      startedServers = await startServers(
        specs.map((s) => ({ ...s, name: `${s.name}-pg${version}` })),
        { explicitName: true, ...(options.quiet ? { quiet: true } : {}) },
      )
      const servers = startedServers.map((c, i) => ({ ...c.info, name: specs[i]!.name }))
      const list = servers.map(describeServer).join(', ')
      if (!options.quiet) stderr.write(`${prefix}pgrig: ${list} up in ${Date.now() - started} ms\n`)
      if (interrupted) return result(130, 'interrupted before it started')
      fs.mkdirSync(reportDir, { recursive: true })
      const code = await runCommand(options.command, {
        env: commandEnv({
          servers,
          env: options.env,
          // Lets pgrig/vitest find this version's server (and its superuser) in the run's state.
          runId: startedServers[0]?.runId,
          pgVersion: version,
          reportDir,
        }),
        prefixed: { prefix, stdout, stderr },
      }).catch((error: unknown) => {
        if (!isPgrigError(error) || error.code !== 'E_COMMAND_NOT_FOUND') throw error
        // What a shell answers for a command it cannot find.
        stderr.write(`${prefix}pgrig: ${error.message}\n`)
        return 127
      })
      return result(code)
    } catch (error) {
      const message = isPgrigError(error) ? error.message : String(error)
      stderr.write(`${prefix}pgrig: ${message}\n`)
      return result(1, message)
    } finally {
      await Promise.all(startedServers.map((c) => c.stop()))
    }
  }

  const results: VersionResult[] = new Array(options.versions.length)
  let next = 0
  const worker = async () => {
    while (next < options.versions.length) {
      const i = next++
      results[i] = await runOne(options.versions[i]!)
    }
  }
  try {
    await Promise.all(Array.from({ length: Math.max(1, options.concurrency) }, worker))
  } finally {
    for (const sig of FORWARDED_SIGNALS) process.off(sig, onSignal)
  }

  stderr.write(formatSummary(results))
  const failed = results.find((r) => r.exitCode !== 0)
  let exitCode = interrupted ? 130 : (failed?.exitCode ?? 0)
  let report: string | undefined
  try {
    report = mergeVersionReports(
      results.map((r) => r.reportDir),
      path.resolve(options.reportDir),
    )
    if (report && !options.quiet) stderr.write(`pgrig: combined report ${report}\n`)
  } catch (error) {
    if (!isPgrigError(error)) throw error
    stderr.write(`pgrig: ${error.message}\n`)
    if (exitCode === 0) exitCode = 1
  }
  return { results, exitCode, ...(report ? { report } : {}) }
}

export function formatSummary(results: VersionResult[]): string {
  const rows = results.map((r) => {
    const status = r.exitCode === 0 ? 'passed' : r.error ? 'not run' : 'failed'
    const why = r.error ? `  (${r.error})` : ''
    const seconds = (r.durationMs / 1000).toFixed(1)
    return `  PostgreSQL ${r.version.padEnd(6)} ${status.padEnd(8)} exit ${String(r.exitCode).padEnd(4)} ${seconds.padStart(6)} s${why}`
  })
  return `pgrig: version matrix\n${rows.join('\n')}\n`
}
