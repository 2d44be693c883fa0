import type { ServerInfo } from '../servers/server-info.js'
import type { ServiceInfo } from '../services/service.js'

/** Services as a start line lists them: `minio (port 9000)`, `minio-init (once, done)`. */
export function describeServices(services: ServiceInfo[]): string[] {
  return services.map((s) => `${s.name} (${s.once ? 'once, done' : `port ${s.port}`})`)
}

function describeTls(server: ServerInfo): string {
  if (!server.tls) return 'no TLS'
  const cert = server.clientCert !== 'off' ? `, client cert ${server.clientCert}` : ''
  return `TLS ${server.tls.mode}${cert}`
}

/** What a person needs right after a start: how to connect, and how to stop. */
export function printStarted(
  servers: ServerInfo[],
  elapsedMs: number,
  stopCommand: string,
  services: ServiceInfo[] = [],
): void {
  const lines: string[] = []
  for (const server of servers) {
    lines.push(
      `pgrig: ${server.name} is up — PostgreSQL ${server.version} on ${server.host}:${server.port} (${describeTls(server)}, auth ${server.auth})`,
      `  url        ${server.url}`,
      `  superuser  ${server.superuser.url}`,
      `  psql       psql '${server.url}'`,
    )
    if (server.tls?.caFile) lines.push(`  certs      ${server.tls.caFile.replace(/\/ca\.crt$/, '')}`)
    lines.push(`  log        ${server.logFile}`)
  }
  for (const service of services) {
    lines.push(
      service.once
        ? `pgrig: ${service.name} ran once and exited with code 0 (log ${service.logFile})`
        : `pgrig: ${service.name} is up — port ${service.port}, pid ${service.pid}, ready on ${service.ready}`,
    )
    for (const [key, value] of Object.entries(service.env)) lines.push(`  ${key.padEnd(10)} ${value}`)
    if (!service.once) lines.push(`  log        ${service.logFile}`)
  }
  lines.push(
    `Started in ${elapsedMs} ms. Connection variables: npx pgrig env. Stop: npx ${stopCommand}${servers.length === 1 ? ` ${servers[0]?.name}` : ' --all'}`,
  )
  process.stderr.write(lines.join('\n') + '\n')
}
