import { PgrigError } from '../../errors.js'
import { oneLine } from './one-line.js'

/** The test runners pgrig drives, as named in its messages. */
export type RunnerName = 'Vitest' | 'node:test' | 'Jest'

/** What pgrig knows of the runner driving a test process: everything runner-specific the lifecycle says. */
export interface RunnerInfo {
  name: RunnerName
  /** The worker slot: reused by later workers, never by two at once (VITEST_POOL_ID, JEST_WORKER_ID). */
  slot: string
  /** What a user of this runner does instead of running tests side by side in one process. */
  concurrencyFix: string
  /** How a user of this runner turns an option on, as "turn it on with …" ends. */
  hints: { redis: string; proxy: string }
}

/** A user mistake the runner prints as its one line, without a stack into pgrig. */
export const usage = (message: string): unknown => oneLine(new PgrigError('E_USAGE', message))

/**
 * The one refusal of tests that run side by side in one process: `what` says how the runner runs
 * them, `fix` what to do instead (the runner's `concurrencyFix` unless a setting is to blame).
 */
export function concurrentTestsRefused(
  what: string,
  fix: string,
  code: 'E_USAGE' | 'E_CONFIG_INVALID' = 'E_USAGE',
): unknown {
  return oneLine(
    new PgrigError(
      code,
      `${what}, and pgrig points process.env (DATABASE_URL, PG*) at one test's database at a time: ${fix}`,
    ),
  )
}
