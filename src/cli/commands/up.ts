import type { Command } from 'commander'
import { startServers } from '../../servers/start-server.js'
import { connectionEnv } from '../../servers/connection-env.js'
import { detachedRun } from '../../servers/run.js'
import { DEFAULT_SERVER_NAME } from '../../config/resolve.js'
import { PgrigError } from '../../errors.js'
import { runningServers } from '../running.js'
import { checkPrograms } from '../../services/service.js'
import { startServices } from '../../services/services.js'
import { addServerFlags, servicesFromFlags, serversFromFlags, type ServerFlags } from '../server-flags.js'
import { printStarted } from '../print.js'

export function registerUp(program: Command): void {
  addServerFlags(program.command('up').description('start PostgreSQL server(s) in the background'))
    .option('--json', 'print the servers as one JSON object')
    .option('--no-services', "start none of the config's services")
    .option('--show-secrets', 'print passwords in the URLs even when not at a terminal or under CI')
    .action(async (flags: ServerFlags & { json?: boolean; services?: boolean; showSecrets?: boolean }) => {
      const specs = await serversFromFlags(flags)
      const serviceSpecs = await servicesFromFlags(flags)
      if (specs.some((s) => s.engine === 'external')) {
        throw new PgrigError(
          'E_USAGE',
          'up starts servers, and an external server (--url) is never started by pgrig; use pgrig run --url … -- <command>',
        )
      }
      checkPrograms(serviceSpecs)
      const started = Date.now()
      const takenNames = new Set(
        runningServers()
          .filter((s) => s.alive)
          .map((s) => s.server.name),
      )
      const run = await detachedRun()
      // Until the servers are printed, an interrupted up (Ctrl-C, SIGKILL) has its reaper take them down.
      run.beginStart()
      try {
        const startedServers = await startServers(specs, {
          run,
          detached: true,
          takenNames,
          explicitName: flags.name !== undefined || specs.some((s) => s.name !== DEFAULT_SERVER_NAME),
        })
        const servers = startedServers.map((c) => c.info)
        const services = await startServices(serviceSpecs, { run, processEnv: connectionEnv(servers) }).catch(
          async (error: unknown) => {
            await Promise.all(startedServers.map((c) => c.stop()))
            throw error
          },
        )
        const infos = services.list.map((service) => service.info)
        if (flags.json) {
          const out = { runId: run.runId, servers, ...(infos.length ? { services: infos } : {}) }
          process.stdout.write(JSON.stringify(out, null, 2) + '\n')
        } else {
          printStarted(servers, Date.now() - started, 'pgrig down', infos, { showSecrets: flags.showSecrets })
        }
      } finally {
        run.endStart()
      }
    })
}
