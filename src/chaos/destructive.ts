/**
 * Marks helpers that kill, corrupt or exhaust a server (crash, restart, terminate backends, fill
 * max_connections, damage pages), so suites and reporters can tell them apart: such a function
 * carries `destructive: true` (see `isDestructive`). Tests that use one belong in the `destructive`
 * category (a Vitest tag, or `[destructive]` in the test or suite name), which pgrig's report
 * policy skips unless asked for.
 */
export const DESTRUCTIVE_CATEGORY = 'destructive'

export type Destructive<F> = F & { readonly destructive: true }

export function markDestructive<F extends (...args: never[]) => unknown>(fn: F): Destructive<F> {
  return Object.assign(fn, { destructive: true as const })
}

export function isDestructive(fn: unknown): boolean {
  return typeof fn === 'function' && (fn as { destructive?: unknown }).destructive === true
}
