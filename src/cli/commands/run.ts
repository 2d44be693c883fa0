import { spawn } from 'node:child_process'
import os from 'node:os'
import type { Command } from 'commander'
import { startServers, type StartedCluster } from '../../cluster/cluster.js'
import { connectionEnv } from '../../cluster/connection-env.js'
import { connectExternal } from '../../cluster/external.js'
import { closeOwnedRun } from '../../cluster/run.js'
import { DEFAULT_SERVER_NAME } from '../../config/resolve.js'
import { PgrigError } from '../../errors.js'
import { addServerFlags, serversFromFlags, type ServerFlags } from '../server-flags.js'

type RunFlags = ServerFlags & { keep?: boolean; quiet?: boolean }

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

export function registerRun(program: Command): void {
  addServerFlags(
    program
      .command('run')
      .description('start the servers, run a command with their connection in the environment, stop them')
      .argument('<command...>', 'the command to run, after --'),
  )
    .option('--keep', 'leave the servers running afterwards (stop them with pgrig down)')
    .option('--quiet', 'print nothing about the servers')
    .passThroughOptions()
    .action(async (argv: string[], flags: RunFlags) => {
      const specs = await serversFromFlags(flags)
      const started = Date.now()
      let clusters: StartedCluster[] = []
      let interrupted = false
      const onSignal = () => (interrupted = true)
      process.on('SIGINT', onSignal)
      try {
        const external = await Promise.all(specs.filter((s) => s.engine === 'external').map(connectExternal))
        clusters = await startServers(
          specs.filter((s) => s.engine !== 'external'),
          {
            detached: flags.keep === true,
            explicitName: flags.name !== undefined || specs.some((s) => s.name !== DEFAULT_SERVER_NAME),
          },
        )
        const servers = [...clusters.map((c) => c.info), ...external]
        if (!flags.quiet) {
          const list = servers.map((s) => `${s.name} (PostgreSQL ${s.version}, port ${s.port})`).join(', ')
          process.stderr.write(`pgrig: ${list} up in ${Date.now() - started} ms\n`)
        }
        process.exitCode = interrupted
          ? 130
          : await runCommand(argv, {
              ...process.env,
              ...connectionEnv(servers),
              // Lets pgrig/vitest (and the other integrations) find the run's superuser in its state file.
              ...(clusters[0] ? { PGRIG_RUN_ID: clusters[0].runId } : {}),
            })
      } finally {
        process.off('SIGINT', onSignal)
        if (!flags.keep) await Promise.all(clusters.map((c) => c.stop()))
        closeOwnedRun()
      }
    })
}
