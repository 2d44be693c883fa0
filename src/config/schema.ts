import { createRequire } from 'node:module'
import type { z as Zod } from 'zod'
import { HBA_METHODS, HBA_TYPES } from './hba.js'

export const PROFILES = ['plain', 'tls', 'client-cert'] as const
export const TLS_MODES = ['off', 'on', 'required'] as const
export const CLIENT_CERT_MODES = ['off', 'verify-ca', 'verify-full'] as const
export const AUTH_METHODS = ['scram-sha-256', 'md5', 'trust', 'cert'] as const
export const ENGINES = ['embedded', 'system', 'external'] as const
/** Who init scripts run as: the app user (what they create is the app's), or the superuser. */
export const INIT_SQL_ROLES = ['app', 'superuser'] as const
const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '::1'] as const

export type Profile = (typeof PROFILES)[number]
export type TlsMode = (typeof TLS_MODES)[number]
export type ClientCertMode = (typeof CLIENT_CERT_MODES)[number]
export type AuthMethod = (typeof AUTH_METHODS)[number]
export type EngineKind = (typeof ENGINES)[number]
export type InitSqlRole = (typeof INIT_SQL_ROLES)[number]

/**
 * The schemas, built on first use: zod is loaded only when there is something to check (a config
 * file, server options given in code), not by every process that imports pgrig.
 */
function build(z: typeof Zod) {
  const identifier = z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'use letters, digits and _ only, not starting with a digit')
    .max(63, 'PostgreSQL identifiers are at most 63 bytes')

  const serverName = z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9_-]*$/, 'use letters, digits, - and _ only, starting with a letter')
    .max(40)

  const version = z.union([
    z.number().int().positive(),
    z
      .string()
      .regex(/^\d+(\.\d+){0,2}(-[0-9A-Za-z.]+)?$/, 'expected a major such as 17 or a version such as 17.6'),
  ])

  const port = z
    .number({ error: 'expected a port number' })
    .int('expected a whole port number')
    .min(0, 'ports go from 1 to 65535 (0 picks a free one)')
    .max(65535, 'ports go from 1 to 65535 (0 picks a free one)')

  const settingValue = z.union([z.string(), z.number(), z.boolean()])

  /** What a user may say about one server, in a config file or through `up`/`run` flags. */
  const serverOptionsSchema = z.strictObject({
    name: serverName.optional(),
    engine: z.enum(ENGINES).optional(),
    pg: version.optional(),
    version: version.optional(),
    url: z.string().optional(),
    port: port.optional(),
    host: z
      .enum(LOOPBACK_HOSTS, { error: 'pgrig servers listen on loopback only: 127.0.0.1, localhost or ::1' })
      .optional(),
    user: identifier.optional(),
    password: z.string().min(1).optional(),
    database: identifier.optional(),
    superuser: z
      .strictObject({ user: identifier.optional(), password: z.string().min(1).optional() })
      .optional(),
    initSql: z.union([z.string(), z.array(z.string())]).optional(),
    initSqlAs: z.enum(INIT_SQL_ROLES).optional(),
    settings: z
      .record(z.string().regex(/^[a-z_][a-z0-9_.]*$/, 'not a PostgreSQL setting name'), settingValue)
      .optional(),
    locale: z.string().optional(),
    encoding: z.string().optional(),
    profile: z.enum(PROFILES).optional(),
    tls: z.enum(TLS_MODES).optional(),
    clientCert: z.enum(CLIENT_CERT_MODES).optional(),
    auth: z.enum(AUTH_METHODS).optional(),
    /** pg_hba rules per role / database / method, before pgrig's own lines (src/config/hba.ts). */
    hba: z
      .array(
        z.strictObject({
          type: z.enum(HBA_TYPES, { error: `expected one of ${HBA_TYPES.join(', ')}` }).optional(),
          database: z.string().min(1).optional(),
          user: z.string().min(1).optional(),
          address: z.string().min(1).optional(),
          method: z.enum(HBA_METHODS, {
            error: `expected a method a test server can honour: ${HBA_METHODS.join(', ')}`,
          }),
        }),
      )
      .optional(),
    certDir: z.string().optional(),
    tmpfs: z.boolean().optional(),
    dataChecksums: z.boolean().optional(),
    startupTimeout: z.number().int().positive().optional(),
  })

  const categoryName = z.string().regex(/^[a-z][a-z0-9_-]*$/, 'use lower-case letters, digits, - and _')

  const policySchema = z.strictObject({
    categories: z
      .array(
        z.union([
          categoryName,
          z.strictObject({
            name: categoryName,
            description: z.string().optional(),
            timeout: z.number().int().positive().optional(),
          }),
        ]),
      )
      .optional(),
    mustPass: z.array(categoryName).optional(),
    allowedToFail: z.array(categoryName).optional(),
    skip: z.array(categoryName).optional(),
    timeouts: z.record(categoryName, z.number().int().positive()).optional(),
  })

  const readySchema = z.union(
    [
      z.strictObject({
        http: z.string().min(1),
        status: z.number().int().min(100).max(599).optional(),
      }),
      z.strictObject({ tcp: z.union([z.string().min(1), port]) }),
      z.strictObject({ log: z.union([z.instanceof(RegExp), z.string().min(1)]) }),
    ],
    { error: "expected { http: 'http://127.0.0.1:{port}/health' }, { tcp: '{port}' } or { log: /pattern/ }" },
  )

  /** A companion process a suite needs (an S3 store, a one-shot job), as the user runs it. */
  const serviceOptionsSchema = z.strictObject({
    command: z
      .array(z.string(), {
        error: "expected the program and its arguments as a list, e.g. ['minio', 'server', '{dir}']",
      })
      .min(1, "expected the program and its arguments as a list, e.g. ['minio', 'server', '{dir}']"),
    ready: readySchema.optional(),
    env: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'not an environment variable name'), z.string())
      .optional(),
    after: z.array(serverName).optional(),
    once: z.boolean().optional(),
    timeout: z.number().int().positive().optional(),
  })

  /** A config file: server defaults at the top level, named servers under `servers`. */
  const configSchema = serverOptionsSchema.omit({ name: true }).extend({
    servers: z.record(serverName, serverOptionsSchema.omit({ name: true })).optional(),
    services: z.record(serverName, serviceOptionsSchema).optional(),
    versions: z.array(version).min(1).optional(),
    /** Extensions the superuser creates in every template (`pgrig serve`, pytest-pgrig), before migrations run. */
    extensions: z.array(z.string().min(1).max(63)).optional(),
    /** Test categories and what may fail; read by pgrig's Vitest reporter (src/report). */
    policy: policySchema.optional(),
  })
  return { serverOptionsSchema, serviceOptionsSchema, configSchema }
}

type Schemas = ReturnType<typeof build>
let built: Schemas | undefined

export function schemas(): Schemas {
  // A synchronous load: resolving a server's options stays synchronous.
  return (built ??= build((createRequire(import.meta.url)('zod') as { z: typeof Zod }).z))
}

export type ServerOptions = Zod.input<Schemas['serverOptionsSchema']>
export type PgrigConfig = Zod.input<Schemas['configSchema']>
export type ServiceOptions = Zod.input<Schemas['serviceOptionsSchema']>
/** How pgrig tells a service is ready: an HTTP answer, a TCP accept, or a line in its log. */
export type ReadyCheck = NonNullable<ServiceOptions['ready']>

export function defineConfig(config: PgrigConfig): PgrigConfig {
  return config
}
