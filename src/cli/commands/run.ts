import type { Command } from 'commander'
import { closeOwnedRun } from '../../servers/run.js'
import { DEFAULT_SERVER_NAME } from '../../config/resolve.js'
import { PgrigError } from '../../errors.js'
import type { CategoryPolicy } from '../../report/categories.js'
import { describeServer } from '../../run/describe.js'
import { defaultConcurrency, runMatrix } from '../../run/matrix.js'
import { selectionEnv } from '../../run/selection.js'
import { parseVersionList } from '../../run/version-list.js'
import { runWithServers } from '../../run/with-servers.js'
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

/** `PGRIG_ONLY` / `PGRIG_SKIP`, checked against the categories pgrig and the config's policy define. */
function selectionOf(flags: RunFlags): Promise<Record<string, string>> {
  return selectionEnv(flags, async () => {
    const loaded = await configOf(flags)
    return (loaded?.config as { policy?: CategoryPolicy } | undefined)?.policy ?? {}
  })
}

async function runVersionMatrix(argv: string[], flags: RunFlags, versions: string[]): Promise<void> {
  if (flags.keep || flags.url) {
    throw new PgrigError(
      'E_USAGE',
      `--pg ${flags.pg} runs once per version and stops its servers; drop ${flags.keep ? '--keep' : '--url'}, or give one version`,
    )
  }
  const selection = await selectionOf(flags)
  try {
    const { exitCode } = await runMatrix({
      versions,
      command: argv,
      specsFor: (pg) => serversFromFlags({ ...flags, pg }),
      reportDir: flags.reportDir ?? DEFAULT_REPORT_DIR,
      concurrency: flags.sequential ? 1 : defaultConcurrency(versions.length),
      env: selection,
      services: await servicesFromFlags(flags),
      ...(flags.quiet ? { quiet: true } : {}),
    })
    process.exitCode = exitCode
  } finally {
    closeOwnedRun()
  }
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
      const selection = await selectionOf(flags)
      const specs = await serversFromFlags(flags)
      const services = await servicesFromFlags(flags)
      const started = Date.now()
      try {
        process.exitCode = await runWithServers({
          command: argv,
          specs,
          services,
          keep: flags.keep === true,
          explicitName: flags.name !== undefined || specs.some((s) => s.name !== DEFAULT_SERVER_NAME),
          env: selection,
          reportDir: flags.reportDir,
          ...(flags.serve
            ? {
                serve: (server) =>
                  serveOver(server, { port: 0, allowExternal: flags.allowExternal, config: flags.config }),
              }
            : {}),
          onUp: (servers, serviceInfos) => {
            if (flags.quiet) return
            const list = [...servers.map(describeServer), ...describeServices(serviceInfos)].join(', ')
            process.stderr.write(`pgrig: ${list} up in ${Date.now() - started} ms\n`)
          },
          onDeath: (error) => process.stderr.write(`pgrig: ${error.message}\n`),
        })
      } finally {
        closeOwnedRun()
      }
    })
}
