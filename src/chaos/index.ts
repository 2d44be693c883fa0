export { createProxy, ChaosProxy } from './proxy/proxy.js'
export type { ProxyOptions, ProxyJson, UpstreamTarget, ListedToxic } from './proxy/proxy.js'
export { proxiedUrl } from './proxy/address.js'
export type { ProxyTls, TerminateTlsOptions, UpstreamSslmode, Pem } from './proxy/tls/options.js'
export { registerToxic, toxicTypes } from './proxy/toxic.js'
export type { Toxic, ToxicSpec, ToxicType, ToxicStub, Stream } from './proxy/toxic.js'
export { serveToxiproxyApi, ToxiproxyApi, TOXIPROXY_API_VERSION } from './proxy/http-api.js'
export { StatementFault } from './proxy/pg/statement-faults.js'
export { StartupFault } from './proxy/pg/startup-faults.js'
export type { StartupFaultSpec } from './proxy/pg/startup-faults.js'
export type { FaultToxic, FaultToxicType } from './proxy/pg/fault-toxics.js'
export type {
  StatementFaultSpec,
  ErrorFaultSpec,
  DelayFaultSpec,
  AmbiguousCommitFaultSpec,
  StatementMatch,
} from './proxy/pg/statement-faults.js'
export {
  check,
  formatCheckResult,
  type CheckOptions,
  type CheckResult,
  type WorkloadModel,
} from './checker/check.js'
export {
  ISOLATION_LEVELS,
  VIOLATES,
  formatCycle,
  type Anomaly,
  type AnomalyType,
  type CycleAnomalyType,
  type DataCycleType,
  type CycleStep,
  type IsolationLevel,
} from './checker/anomalies.js'
export { HistoryRecorder, type PendingTransaction } from './history/recorder.js'
export { outcomeOfError } from './history/outcome.js'
export { toTransactions } from './history/transactions.js'
export {
  append,
  read,
  write,
  type AppendOp,
  type History,
  type HistoryEvent,
  type Key,
  type MicroOp,
  type Outcome,
  type ReadOp,
  type Transaction,
  type Value,
  type WriteOp,
} from './history/types.js'
export {
  runWorkload,
  type PostgresIsolation,
  type WorkloadOptions,
  type WorkloadResult,
} from './workload/runner.js'
export type { KeyDistribution } from './workload/generator.js'
export * from './server/index.js'
export * from './corruption/index.js'
export * from './property/index.js'
export { DESTRUCTIVE_CATEGORY, isDestructive, markDestructive, type Destructive } from './destructive.js'
