export { startServer, startServers, StartedServer } from './servers/start-server.js'
export type { StartServerOptions, LifecycleOptions } from './servers/start-server.js'
export type { ServerTls, ExternalTls, ServerInfo } from './servers/server-info.js'
export { startCluster, StartedCluster } from './servers/old-names.js'
export type { StartClusterOptions, ClusterTls } from './servers/old-names.js'
export { defineConfig } from './config/schema.js'
export type {
  PgrigConfig,
  ServerOptions,
  ServiceOptions,
  ReadyCheck,
  Profile,
  TlsMode,
  ClientCertMode,
  AuthMethod,
} from './config/schema.js'
export { resolveServers, type ServerSpec } from './config/resolve.js'
export { PgrigError, isPgrigError, type PgrigErrorCode } from './errors.js'
export { startRedis, StartedRedis, type StartRedisOptions } from './services/redis.js'
export {
  startService,
  StartedService,
  type StartServiceOptions,
  type ServiceInfo,
  type ServiceContext,
} from './services/service.js'
export { startServices, StartedServices } from './services/services.js'
export { resolveServices, type ServiceSpec } from './config/services.js'
export {
  assertPostgresUrl,
  assertExternalAllowed,
  assertOwned,
  markOwned,
  readOwner,
  type OwnerInfo,
  type OwnedKind,
  type ExternalOptions,
} from './databases/guard.js'
export { quoteIdentifier, quoteLiteral } from './servers/sql-quote.js'
export { BOOKKEEPING_TABLES } from './databases/truncate/exclude.js'
export type { TruncateIsolation, TruncateIsolationOptions, ResetResult } from './databases/truncate-mode.js'
export type { TransactionIsolation, TransactionIsolationOptions } from './databases/transaction-mode.js'
export { createTruncateIsolation, createTransactionIsolation } from './databases/lazy-modes.js'
