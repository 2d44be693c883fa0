export { createProxy, ChaosProxy } from './proxy/proxy.js'
export type { ProxyOptions, ProxyJson, UpstreamTarget } from './proxy/proxy.js'
export { proxiedUrl } from './proxy/address.js'
export { registerToxic, toxicTypes } from './proxy/toxic.js'
export type { Toxic, ToxicSpec, ToxicType, ToxicStub, Stream } from './proxy/toxic.js'
export { serveToxiproxyApi, ToxiproxyApi, TOXIPROXY_API_VERSION } from './proxy/http-api.js'
export { StatementFault } from './proxy/pg/statement-faults.js'
export type {
  StatementFaultSpec,
  ErrorFaultSpec,
  DelayFaultSpec,
  AmbiguousCommitFaultSpec,
  StatementMatch,
} from './proxy/pg/statement-faults.js'
