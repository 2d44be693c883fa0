import { PgrigError } from '../../errors.js'
import type { PgrigOptions } from '../run-databases.js'
import { databaseMode } from './database.js'
import { resetMode } from './reset.js'
import type { IsolationStrategy } from './strategy.js'
import { transactionMode } from './transaction.js'
import { truncateMode } from './truncate.js'

export type { IsolationStrategy, TestCheckout, WorkerContext, WorkerIsolation } from './strategy.js'

/** Every isolation mode, by name; the first is the default. A new mode is one file and one entry here. */
const STRATEGIES = [databaseMode, transactionMode, truncateMode, resetMode] as const

/** The `isolation` option's values. */
export type IsolationMode = (typeof STRATEGIES)[number]['name']

const BY_NAME = new Map<string, IsolationStrategy>(STRATEGIES.map((mode) => [mode.name, mode]))

export const DEFAULT_ISOLATION: IsolationMode = STRATEGIES[0].name

export function isolationModes(): readonly IsolationStrategy[] {
  return STRATEGIES
}

/** The mode `isolation` names (the default when unset); a name that is no mode is one line. */
export function isolationStrategy(name: string | undefined): IsolationStrategy {
  const mode = BY_NAME.get(name ?? DEFAULT_ISOLATION)
  if (!mode) {
    throw new PgrigError(
      'E_CONFIG_INVALID',
      `isolation ${JSON.stringify(name)} is not a mode; use ${STRATEGIES.map((m) => `'${m.name}'`).join(', ')}`,
    )
  }
  return mode
}

/**
 * The isolation checks made before anything starts: the mode exists, `keepFailed` only where a
 * failed test's database is its own, a mode's own options only under that mode, the mode's own checks.
 */
export function checkIsolationOptions(options: PgrigOptions): IsolationStrategy {
  const mode = isolationStrategy(options.isolation)
  if (options.keepFailed === true && !mode.keepsFailedDatabase) {
    const keeping = STRATEGIES.filter((m) => m.keepsFailedDatabase).map((m) => `'${m.name}'`)
    throw new PgrigError(
      'E_CONFIG_INVALID',
      `keepFailed keeps a failed test's own database, which isolation '${mode.name}' does not give a test (${mode.summary}); use isolation ${keeping.join(' or ')} to keep failed databases`,
    )
  }
  for (const owner of STRATEGIES) {
    if (owner === mode) continue
    for (const [key, refusal] of Object.entries(owner.ownOptions ?? {})) {
      const value = options[key as keyof PgrigOptions]
      const set = Array.isArray(value) ? value.length > 0 : value !== undefined
      if (set && refusal && !mode.ownOptions?.[key as keyof PgrigOptions]) {
        throw new PgrigError('E_CONFIG_INVALID', refusal(mode))
      }
    }
  }
  mode.checkOptions?.(options)
  return mode
}
