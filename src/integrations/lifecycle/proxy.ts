import type { ChaosProxy, ProxyOptions } from '../../chaos/proxy/proxy.js'

/**
 * `true`, or how the proxy is made (everything but `upstream`, as Vitest's `proxyOptions`), e.g.
 * `{ tls: 'terminate' }` for statement faults over TLS.
 */
export type ProxyOption = boolean | Omit<ProxyOptions, 'upstream'>

/** A new proxy per test in front of `url`: toxics and statement faults of one test never reach the next. */
export async function startTestProxy(url: string, option: ProxyOption): Promise<ChaosProxy> {
  // Loaded only when asked for: every test file pays for what it imports.
  const { createProxy } = await import('../../chaos/proxy/proxy.js')
  return createProxy({ ...(option === true || option === false ? {} : option), upstream: url })
}
