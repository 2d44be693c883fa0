import type { Command } from 'commander'
import { teardownCompanion, teardownRun, teardownServer } from '../../servers/teardown.js'
import { PgrigError } from '../../errors.js'
import { runningServers, runningServices } from '../running.js'

export function registerDown(program: Command): void {
  program
    .command('down')
    .description('stop servers started by pgrig (one by name, or --all)')
    .argument('[name]', 'server (or service) to stop')
    .option('--all', 'stop every pgrig server on this machine')
    .action(async (name: string | undefined, flags: { all?: boolean }) => {
      const servers = runningServers().filter((s) => s.server.engine !== 'external')
      const services = runningServices()
      if (flags.all) {
        const runIds = [...new Set([...servers, ...services].map((s) => s.run.runId))]
        await Promise.all(runIds.map(teardownRun))
        const running = services.filter((s) => s.state === 'running').length
        process.stderr.write(
          `pgrig: stopped ${servers.filter((s) => s.alive).length} server(s)${running ? ` and ${running} service(s)` : ''}\n`,
        )
        return
      }
      if (!name) {
        if (servers.length > 1) {
          throw new PgrigError(
            'E_USAGE',
            `several servers are running (${servers.map((s) => s.server.name).join(', ')}); name one (pgrig down NAME) or use --all`,
          )
        }
        name = servers[0]?.server.name
        if (!name) {
          process.stderr.write('pgrig: no server is running\n')
          return
        }
      }
      const matches = servers.filter((s) => s.server.name === name)
      const serviceMatches = services.filter((s) => s.service.name === name)
      if (matches.length === 0 && serviceMatches.length > 0) {
        for (const match of serviceMatches) await teardownCompanion(match.run.runId, name)
        process.stderr.write(`pgrig: stopped service ${name}\n`)
        return
      }
      if (matches.length === 0) {
        throw new PgrigError(
          'E_NOT_RUNNING',
          `no pgrig server is named ${name}${servers.length ? ` (running: ${servers.map((s) => s.server.name).join(', ')})` : ''}; see npx pgrig status`,
        )
      }
      for (const match of matches) await teardownServer(match.run.runId, match.server.name)
      process.stderr.write(`pgrig: stopped ${name}\n`)
    })
}
