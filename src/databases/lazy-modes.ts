import type { TransactionIsolation, TransactionIsolationOptions } from './transaction-mode.js'
import type { TruncateIsolation, TruncateIsolationOptions } from './truncate-mode.js'

// The isolation modes of the root export (`pgrig`), loaded when first used: `import 'pgrig'` is
// on every new process's way to its first start, and their modules (the multiplexer, the wire
// codec, the catalog reads) cost it about 15 ms of CPU that a process starting only servers never
// uses.

/**
 * Truncate isolation: one database per worker, reset between tests to the state it had when the
 * isolation was created (docs/isolation.md). Refuses a database pgrig did not create.
 */
export async function createTruncateIsolation(options: TruncateIsolationOptions): Promise<TruncateIsolation> {
  return (await import('./truncate-mode.js')).createTruncateIsolation(options)
}

/**
 * Transaction isolation: every connection to the returned `url` shares one session, and each test
 * runs inside a transaction rolled back at its end (docs/isolation.md).
 */
export async function createTransactionIsolation(
  options: TransactionIsolationOptions,
): Promise<TransactionIsolation> {
  return (await import('./transaction-mode.js')).createTransactionIsolation(options)
}
