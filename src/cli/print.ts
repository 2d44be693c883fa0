import { redactUrl, type ServerInfo } from '../servers/server-info.js'
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

/** Values whose names say they are secrets (`…_PASSWORD`, `…SECRET…`, `…TOKEN…`), and passwords in URLs, as `***`. */
export function hideEnvSecrets(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).map(([key, value]) => [
      key,
      /PASSWORD|PASSWD|SECRET|TOKEN|PRIVATE|_KEY$/i.test(key)
        ? '***'
        : value.includes('@')
          ? redactUrl(value)
          : value,
    ]),
  )
}

/**
 * Whether a start prints passwords on the console: only to a person at a terminal, never under CI
 * (whose logs are kept and often public) nor into a pipe or file. `--show-secrets` forces them.
 */
export function showsSecrets(stream: NodeJS.WriteStream, forced = false): boolean {
  if (forced) return true
  const ci = process.env.CI
  return Boolean(stream.isTTY) && (ci === undefined || ci === '' || ci === 'false' || ci === '0')
}

/** What a person needs right after a start: how to connect, and how to stop. */
export function printStarted(
  servers: ServerInfo[],
  elapsedMs: number,
  stopCommand: string,
  services: ServiceInfo[] = [],
  options: { showSecrets?: boolean } = {},
): void {
  const secrets = showsSecrets(process.stderr, options.showSecrets)
  const url = (value: string) => (secrets ? value : redactUrl(value))
  const lines: string[] = []
  for (const server of servers) {
    lines.push(
      `pgrig: ${server.name} is up — PostgreSQL ${server.version} on ${server.host}:${server.port} (${describeTls(server)}, auth ${server.auth})`,
      `  url        ${url(server.url)}`,
      `  superuser  ${url(server.superuser.url)}`,
      `  psql       psql '${url(server.url)}'`,
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
    const env = secrets ? service.env : hideEnvSecrets(service.env)
    for (const [key, value] of Object.entries(env)) lines.push(`  ${key.padEnd(10)} ${value}`)
    if (!service.once) lines.push(`  log        ${service.logFile}`)
  }
  if (!secrets && servers.length) {
    lines.push(
      'Passwords hidden (not a terminal, or CI): npx pgrig env prints them, npx pgrig status --show-secrets the full URLs.',
    )
  }
  lines.push(
    `Started in ${elapsedMs} ms. Connection variables: npx pgrig env. Stop: npx ${stopCommand}${servers.length === 1 ? ` ${servers[0]?.name}` : ' --all'}`,
  )
  process.stderr.write(lines.join('\n') + '\n')
}
