import type { ServerSpec } from '../config/resolve.js'

/**
 * Speed over durability: a test server's data is thrown away, so nothing needs to survive a
 * power cut. Users override any of these through `settings`.
 */
export const TEST_SPEED_DEFAULTS: Record<string, string | number | boolean> = {
  fsync: false,
  // synchronous_commit stays on (PostgreSQL's default): off, a commit reaches the WAL up to
  // wal_writer_delay later, so logical replication lags and crash() loses committed rows.
  full_page_writes: false,
  shared_buffers: '32MB',
  // Segments in the data dir go away with it; POSIX ones in /dev/shm outlive a SIGKILLed server.
  dynamic_shared_memory_type: 'mmap',
  max_wal_size: '1GB',
  checkpoint_timeout: '30min',
  lc_messages: 'C',
  timezone: 'UTC',
  log_timezone: 'UTC',
  log_line_prefix: '%m [%p] %q%u@%d ',
}

export interface ServerConfigInput {
  spec: ServerSpec
  port: number
  socketDir: string
  /** Paths inside the data dir, owned by the server user, as PostgreSQL demands for the key. */
  tls: { certFile: string; keyFile: string; caFile: string } | undefined
}

function quote(value: string | number | boolean): string {
  if (typeof value === 'boolean') return value ? 'on' : 'off'
  if (typeof value === 'number') return String(value)
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`
}

/** The settings file pgrig includes from postgresql.conf; later lines win, so user settings come last. */
export function renderSettings(input: ServerConfigInput): string {
  const { spec } = input
  const settings: Record<string, string | number | boolean> = {
    listen_addresses: spec.host === '::1' ? '::1' : spec.host === 'localhost' ? 'localhost' : '127.0.0.1',
    port: input.port,
    unix_socket_directories: input.socketDir,
    ...TEST_SPEED_DEFAULTS,
  }
  if (spec.auth === 'md5') settings.password_encryption = 'md5'
  if (input.tls) {
    settings.ssl = true
    settings.ssl_cert_file = input.tls.certFile
    settings.ssl_key_file = input.tls.keyFile
    settings.ssl_ca_file = input.tls.caFile
  }
  Object.assign(settings, spec.settings)
  return (
    '# Written by pgrig; regenerated on every start.\n' +
    Object.entries(settings)
      .map(([key, value]) => `${key} = ${quote(value)}`)
      .join('\n') +
    '\n'
  )
}

/**
 * The config's `hba` rules first (the first line that matches a connection decides), then pgrig's
 * own: sessions over the unix socket are trusted (the socket dir is reachable only by the server
 * user and root), TCP follows the profile. A TLS server's client-certificate setting applies to
 * the `hba` rules too.
 */
export function renderHba(spec: ServerSpec): string {
  const method = spec.auth
  const options = spec.clientCert !== 'off' && method !== 'cert' ? ` clientcert=${spec.clientCert}` : ''
  const type = spec.tls === 'required' || spec.clientCert !== 'off' || method === 'cert' ? 'hostssl' : 'host'
  const lines = ['# Written by pgrig.']
  for (const rule of spec.hba) {
    const head = `${rule.type} ${rule.database} ${rule.user}`
    const certOption =
      rule.type === 'hostssl' &&
      spec.clientCert !== 'off' &&
      rule.method !== 'cert' &&
      rule.method !== 'reject'
        ? ` clientcert=${spec.clientCert}`
        : ''
    if (rule.type === 'local') lines.push(`${head} ${rule.method}`)
    for (const address of rule.addresses) lines.push(`${head} ${address} ${rule.method}${certOption}`)
  }
  lines.push('local all all trust', 'local replication all trust')
  for (const address of ['127.0.0.1/32', '::1/128']) {
    lines.push(`${type} all all ${address} ${method}${options}`)
    lines.push(`${type} replication all ${address} ${method}${options}`)
  }
  if (type === 'hostssl') {
    for (const address of ['127.0.0.1/32', '::1/128']) lines.push(`hostnossl all all ${address} reject`)
  }
  return lines.join('\n') + '\n'
}
