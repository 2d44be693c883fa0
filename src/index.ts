export { startCluster, startServer, startServers, StartedCluster } from './cluster/cluster.js'
export type { StartClusterOptions, LifecycleOptions } from './cluster/cluster.js'
export { connectionEnv } from './cluster/connection-env.js'
export { connectExternal } from './cluster/external.js'
export type { ClusterTls, ExternalTls, ServerInfo } from './cluster/server-info.js'
export { redactUrl } from './cluster/server-info.js'
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
export { loadConfig } from './config/load.js'
export { resolveEngine } from './engine/index.js'
export type { Engine } from './engine/types.js'
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
  ownerMarker,
  parseOwnerMarker,
  cloneDatabaseName,
  workerDatabaseName,
  templateDatabaseName,
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
export { ensureTemplate, type Template, type TemplateOptions } from './databases/template.js'
export { ClonePool, type ClonePoolOptions, type Lease, type PoolStats } from './databases/clone-pool.js'
export { dropLeftovers } from './databases/leftovers.js'
export { readLogSlice } from './databases/log-slice.js'
export { startBroker, type Broker, type BrokerRoutes } from './databases/broker.js'
export { BrokerClient } from './databases/broker-client.js'
export { startSession, type Session, type PgrigOptions, type IsolationMode } from './databases/session.js'
export { openTestDatabase, type TestDatabase } from './databases/test-database.js'
export type { Migrations, SchemaSource } from './databases/migrations.js'
export {
  createTransactionIsolation,
  type TransactionIsolation,
  type TransactionIsolationOptions,
} from './databases/transaction-mode.js'
export { startServe, serveOptionsFromEnv } from './serve/index.js'
export type { ServeOptions, Serving } from './serve/index.js'
