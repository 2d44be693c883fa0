export { startCluster, startServers, StartedCluster } from './cluster/cluster.js'
export type { StartClusterOptions, LifecycleOptions } from './cluster/cluster.js'
export type { ClusterTls, ExternalTls, ServerInfo } from './cluster/server-info.js'
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
export { quoteIdentifier, quoteLiteral } from './cluster/sql-quote.js'
export {
  BOOKKEEPING_TABLES,
  createTruncateIsolation,
  type TruncateIsolation,
  type TruncateIsolationOptions,
  type ResetResult,
} from './databases/truncate-mode.js'
export {
  createTransactionIsolation,
  type TransactionIsolation,
  type TransactionIsolationOptions,
} from './databases/transaction-mode.js'
