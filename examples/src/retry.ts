/** SQLSTATEs after which the whole transaction can safely run again: PostgreSQL rolled it back. */
const RETRYABLE = new Set(['40001', '40P01'])

/**
 * Runs `work` (one whole transaction) again when PostgreSQL aborted it for a serialization
 * failure or a deadlock, up to `attempts` times. Anything else, including a connection lost during
 * COMMIT (the outcome is unknown), is passed on: running it again could do the work twice.
 */
export async function withRetry<T>(work: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work()
    } catch (error) {
      const code = (error as { code?: unknown }).code
      if (attempt >= attempts || typeof code !== 'string' || !RETRYABLE.has(code)) throw error
    }
  }
}
