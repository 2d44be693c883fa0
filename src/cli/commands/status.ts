import type { Command } from 'commander'
import { redactUrl, type ServerInfo } from '../../servers/server-info.js'
import { hideEnvSecrets } from '../print.js'
import { defaultServer, runningServers, runningServices, type RunningService } from '../running.js'

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('list the servers pgrig runs on this machine')
    .option('--json', 'print as JSON')
    .option('--show-secrets', 'print passwords and full URLs (hidden by default)')
    .option(
      '--config <file>',
      'config file whose first server is the default (default: pgrig.config.{ts,js,json} here)',
    )
    .action(async (flags: { json?: boolean; showSecrets?: boolean; config?: string }) => {
      const servers = runningServers()
      const services = runningServices()
      const chosen = await defaultServer(
        servers.filter((s) => s.alive),
        { config: flags.config },
      )
      const isDefault = (server: ServerInfo) => chosen?.server === server
      if (flags.json) {
        const rows = servers.map(({ run, server, alive }) => ({
          runId: run.runId,
          detached: run.detached,
          alive,
          default: isDefault(server),
          ...(flags.showSecrets ? server : hideSecrets(server)),
        }))
        const serviceRows = services.map(({ run, service, state }) => ({
          runId: run.runId,
          detached: run.detached,
          state,
          ...service,
          env: flags.showSecrets ? service.env : hideEnvSecrets(service.env),
        }))
        process.stdout.write(JSON.stringify({ servers: rows, services: serviceRows }, null, 2) + '\n')
        return
      }
      if (servers.length === 0 && services.length === 0) {
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
        flags.showSecrets ? server.url : redactUrl(server.url),
      ])
      const header = ['NAME', 'STATE', 'VERSION', 'ADDRESS', 'PID', 'TLS', 'RUN', 'URL']
      const sections = table.length ? [formatTable(header, table)] : []
      if (chosen) {
        sections.push(`Default (DATABASE_URL and PG* of pgrig env): ${chosen.server.name}, ${chosen.why}`)
      }
      if (services.length) sections.push(formatTable(SERVICE_HEADER, services.map(serviceRow)))
      process.stdout.write(sections.join('\n\n') + '\n')
    })
}

const SERVICE_HEADER = ['SERVICE', 'STATE', 'ADDRESS', 'PID', 'RUN', 'READY ON']

function serviceRow({ run, service, state }: RunningService): string[] {
  return [
    service.name,
    state === 'done' ? 'done (once)' : state,
    `127.0.0.1:${service.port}`,
    state === 'running' ? String(service.pid) : '-',
    run.detached ? `${run.runId} (up)` : `${run.runId} (pid ${run.ownerPid})`,
    service.ready,
  ]
}

function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]?.length ?? 0)))
  const format = (row: string[]) =>
    row
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd()
  return [header, ...rows].map(format).join('\n')
}

/** A server as status shows it by default: passwords hidden, in the URLs too (`pgrig env` prints them on purpose). */
function hideSecrets(server: ServerInfo): ServerInfo {
  return {
    ...server,
    password: '***',
    url: redactUrl(server.url),
    superuser: { ...server.superuser, password: '***', url: redactUrl(server.superuser.url) },
  }
}
