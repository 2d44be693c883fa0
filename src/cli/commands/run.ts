import { spawn } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import type { Command } from 'commander'
import { startServers, type StartedCluster } from '../../cluster/cluster.js'
import { connectionEnv } from '../../cluster/connection-env.js'
import { connectExternal } from '../../cluster/external.js'
import { closeOwnedRun, detachedRun, ownedRun } from '../../cluster/run.js'
import { reportDeath } from '../../cluster/server-watch.js'
import { DEFAULT_SERVER_NAME } from '../../config/resolve.js'
import { PgrigError } from '../../errors.js'
import { checkPrograms } from '../../services/service.js'
import { startServices, type StartedServices } from '../../services/services.js'
import { categoryDefinitions, type CategoryPolicy } from '../../report/categories.js'
import { defaultConcurrency, runMatrix } from '../../ci/matrix.js'
import { normalizeCategoryList, parseVersionList } from '../../ci/version-list.js'
import { describeServices } from '../print.js'
import {
  addServerFlags,
  configOf,
  servicesFromFlags,
  serversFromFlags,
  type ServerFlags,
} from '../server-flags.js'
import { serveOver } from './serve.js'

type RunFlags = ServerFlags & {
  keep?: boolean
  quiet?: boolean
  only?: string
  skip?: string
  reportDir?: string
  sequential?: boolean
  serve?: boolean
  allowExternal?: boolean
  services?: boolean
}

const DEFAULT_REPORT_DIR = 'pgrig-report'

/** `PGRIG_ONLY` / `PGRIG_SKIP`: the categories a test run selects, for the pgrig reporter to apply. */
async function selectionEnv(flags: RunFlags): Promise<Record<string, string>> {
  const env: Record<string, string> = {}
  if (flags.only !== undefined) env.PGRIG_ONLY = normalizeCategoryList('--only', flags.only)
  if (flags.skip !== undefined) env.PGRIG_SKIP = normalizeCategoryList('--skip', flags.skip)
  if (env.PGRIG_ONLY || env.PGRIG_SKIP) await checkCategoriesKnown(flags, env)
  return env
}

/** A misspelt category would select nothing and pass silently: refuse names neither pgrig nor the policy defines. */
async function checkCategoriesKnown(flags: RunFlags, env: Record<string, string>): Promise<void> {
  const loaded = await configOf(flags)
  const policy = (loaded?.config as { policy?: CategoryPolicy } | undefined)?.policy ?? {}
  const known = categoryDefinitions(policy).map((c) => c.name)
  for (const [flag, list] of [
    ['--only', env.PGRIG_ONLY],
    ['--skip', env.PGRIG_SKIP],
  ] as const) {
    // `--only all` selects every category, slow and destructive too (the comprehensive CI lane).
    const unknown = list
      ?.split(',')
      .find((name) => !known.includes(name) && !(flag === '--only' && name === 'all'))
    if (unknown === undefined) continue
    throw new PgrigError(
      'E_USAGE',
      `${flag} ${unknown}: no such test category, so it would select nothing; pick from ${known.join(', ')} (or all, with --only), or define it under policy.categories in pgrig.config`,
    )
  }
}

async function runVersionMatrix(argv: string[], flags: RunFlags, versions: string[]): Promise<void> {
  if (flags.keep || flags.url) {
    throw new PgrigError(
      'E_USAGE',
      `--pg ${flags.pg} runs once per version and stops its servers; drop ${flags.keep ? '--keep' : '--url'}, or give one version`,
    )
  }
  const selection = await selectionEnv(flags)
  // One set of services for every version's command (each version gets its own servers).
  const services = await startServices(await servicesFromFlags(flags))
  try {
    const { exitCode } = await runMatrix({
      versions,
      command: argv,
      specsFor: (pg) => serversFromFlags({ ...flags, pg }),
      reportDir: flags.reportDir ?? DEFAULT_REPORT_DIR,
      concurrency: flags.sequential ? 1 : defaultConcurrency(versions.length),
      env: { ...selection, ...services.env },
      ...(flags.quiet ? { quiet: true } : {}),
    })
    process.exitCode = exitCode
  } finally {
    await services.stop()
    closeOwnedRun()
  }
}

function runCommand(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const [file, ...args] = argv as [string, ...string[]]
    const child = spawn(file, args, { stdio: 'inherit', env })
    // The terminal sends Ctrl-C to the child too; we only make sure we outlive it to clean up.
    const forward = (sig: NodeJS.Signals) => () => child.kill(sig)
    const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((sig) => [sig, forward(sig)] as const)
    for (const [sig, handler] of handlers) process.on(sig, handler)
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new PgrigError(
              'E_COMMAND_NOT_FOUND',
              `command ${file} was not found; check the spelling or PATH`,
              {
                exitCode: 127,
              },
            )
          : error,
      )
    })
    child.on('exit', (code, signal) => {
      for (const [sig, handler] of handlers) process.off(sig, handler)
      resolve(code ?? 128 + (signal ? (os.constants.signals[signal] ?? 1) : 1))
    })
  })
}

/**
 * What a run tells the reporter: the servers' major when they share one (with several, the reporter
 * takes the major of the server PGPORT points at), and a report dir if asked.
 */
function versionEnv(versions: string[], reportDir: string | undefined): Record<string, string> {
  const env: Record<string, string> = {}
  const majors = new Set(versions.map((version) => version.split('.')[0]!))
  if (majors.size === 1) env.PGRIG_PG_VERSION = [...majors][0]!
  if (reportDir) env.PGRIG_REPORT_DIR = path.resolve(reportDir)
  return env
}

export function registerRun(program: Command): void {
  addServerFlags(
    program
      .command('run')
      .description('start the servers, run a command with their connection in the environment, stop them')
      .argument('<command...>', 'the command to run, after --'),
  )
    .option('--keep', 'leave the servers running afterwards (stop them with pgrig down)')
    .option('--quiet', 'print nothing about the servers')
    .option('--only <categories>', 'run only these test categories (exported as PGRIG_ONLY)')
    .option('--skip <categories>', 'skip these test categories (exported as PGRIG_SKIP)')
    .option('--report-dir <dir>', `where reports go (PGRIG_REPORT_DIR; default ${DEFAULT_REPORT_DIR}/)`)
    .option('--sequential', 'with --pg a,b,…: run the versions one after the other')
    .option('--serve', 'also serve the IntegreSQL API on a free port (INTEGRESQL_CLIENT_BASE_URL)')
    .option('--allow-external', 'with --serve --url: let pgrig create its own pgrig_* databases there')
    .option('--no-services', "start none of the config's services")
    .passThroughOptions()
    .action(async (argv: string[], flags: RunFlags) => {
      const versions = flags.pg?.includes(',') ? parseVersionList(flags.pg) : undefined
      if (versions && versions.length > 1) return runVersionMatrix(argv, flags, versions)
      if (versions) flags = { ...flags, pg: versions[0]! }
      const selection = await selectionEnv(flags)
      const specs = await serversFromFlags(flags)
      const serviceSpecs = await servicesFromFlags(flags)
      // A missing program is named before any server starts.
      checkPrograms(serviceSpecs)
      const started = Date.now()
      let clusters: StartedCluster[] = []
      let services: StartedServices | undefined
      let deaths: { stop(): void }[] = []
      let serving: Awaited<ReturnType<typeof serveOver>> | undefined
      let interrupted = false
      const onSignal = () => (interrupted = true)
      process.on('SIGINT', onSignal)
      try {
        const external = await Promise.all(specs.filter((s) => s.engine === 'external').map(connectExternal))
        // Servers and services share one run, so they stop (and are reaped) together.
        const run =
          serviceSpecs.length === 0 ? undefined : flags.keep ? await detachedRun() : await ownedRun()
        clusters = await startServers(
          specs.filter((s) => s.engine !== 'external'),
          {
            detached: flags.keep === true,
            explicitName: flags.name !== undefined || specs.some((s) => s.name !== DEFAULT_SERVER_NAME),
            ...(run ? { run } : {}),
          },
        )
        deaths = clusters.map((c) =>
          reportDeath(c.info, c.process, c.runId, (error) =>
            process.stderr.write(`pgrig: ${error.message}\n`),
          ),
        )
        const servers = [...clusters.map((c) => c.info), ...external]
        // Services come after the servers and see their connection (DATABASE_URL, PG*).
        services = await startServices(serviceSpecs, {
          ...(run ? { run } : {}),
          processEnv: connectionEnv(servers),
        }).catch(async (error: unknown) => {
          // Stopped on purpose: not a death to report.
          for (const death of deaths) death.stop()
          await Promise.all(clusters.map((c) => c.stop()))
          throw error
        })
        if (!flags.quiet) {
          const list = [
            ...servers.map((s) => `${s.name} (PostgreSQL ${s.version}, port ${s.port})`),
            ...describeServices(services.list.map((service) => service.info)),
          ].join(', ')
          process.stderr.write(`pgrig: ${list} up in ${Date.now() - started} ms\n`)
        }
        if (flags.serve && servers[0]) {
          serving = await serveOver(servers[0], { port: 0, allowExternal: flags.allowExternal })
        }
        process.exitCode = interrupted
          ? 130
          : await runCommand(argv, {
              ...process.env,
              ...(serving ? { INTEGRESQL_CLIENT_BASE_URL: serving.baseUrl } : {}),
              ...selection,
              ...services.env,
              ...connectionEnv(servers),
              // Lets pgrig/vitest (and the other integrations) find the run's superuser in its state file.
              ...(clusters[0] ? { PGRIG_RUN_ID: clusters[0].runId } : {}),
              ...versionEnv(
                servers.map((s) => s.version),
                flags.reportDir,
              ),
            })
      } finally {
        process.off('SIGINT', onSignal)
        for (const death of deaths) death.stop()
        await serving?.close()
        if (!flags.keep) await Promise.all([...clusters.map((c) => c.stop()), services?.stop()])
        closeOwnedRun()
      }
    })
}
