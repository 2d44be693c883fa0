import type { ServerInfo } from '../cluster/server-info.js'

function describeTls(server: ServerInfo): string {
  if (!server.tls) return 'no TLS'
  const cert = server.clientCert !== 'off' ? `, client cert ${server.clientCert}` : ''
  return `TLS ${server.tls.mode}${cert}`
}

/** What a person needs right after a start: how to connect, and how to stop. */
export function printStarted(servers: ServerInfo[], elapsedMs: number, stopCommand: string): void {
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
  lines.push(
    `Started in ${elapsedMs} ms. Connection variables: npx pgrig env. Stop: npx ${stopCommand}${servers.length === 1 ? ` ${servers[0]?.name}` : ' --all'}`,
  )
  process.stderr.write(lines.join('\n') + '\n')
}
