import type { Command } from 'commander'
import { redactUrl } from '../../cluster/server-info.js'
import { runningServers } from '../running.js'

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('list the servers pgrig runs on this machine')
    .option('--json', 'print as JSON')
    .action((flags: { json?: boolean }) => {
      const servers = runningServers()
      if (flags.json) {
        const rows = servers.map(({ run, server, alive }) => ({
          runId: run.runId,
          detached: run.detached,
          alive,
          ...server,
        }))
        process.stdout.write(JSON.stringify({ servers: rows }, null, 2) + '\n')
        return
      }
      if (servers.length === 0) {
        process.stdout.write('No pgrig servers are running. Start one with: npx pgrig up\n')
        return
      }
      const table = servers.map(({ run, server, alive }) => [
        server.name,
        alive ? 'running' : 'stopped',
        server.version,
        `${server.host}:${server.port}`,
        String(server.pid ?? '-'),
        server.tls ? `tls ${server.tls.mode}` : 'plain',
        run.detached ? `${run.runId} (up)` : `${run.runId} (pid ${run.ownerPid})`,
        redactUrl(server.url),
      ])
      const header = ['NAME', 'STATE', 'VERSION', 'ADDRESS', 'PID', 'TLS', 'RUN', 'URL']
      const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]?.length ?? 0)))
      const format = (row: string[]) =>
        row
          .map((cell, i) => cell.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd()
      process.stdout.write([header, ...table].map(format).join('\n') + '\n')
    })
}
