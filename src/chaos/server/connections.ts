import pg from 'pg'
import { PgrigError } from '../../errors.js'
import { markDestructive } from '../destructive.js'

export interface HeldConnections extends AsyncDisposable {
  /** How many sessions this holds open. */
  readonly held: number
  /** Closes every held session; calling it again does nothing. */
  release(): Promise<void>
}

export interface ExhaustOptions {
  /** Whose sessions fill the slots; by default the app user's `url`, which leaves the
   * superuser-reserved slots free for admin work and for the release. */
  url?: string
  /** Give up (and release) after this many sessions; a guard against a server with a huge limit. */
  limit?: number
}

const TOO_MANY_CONNECTIONS = '53300'

async function open(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: 'pgrig-exhaust' })
  client.on('error', () => {})
  await client.connect()
  return client
}

/**
 * Opens sessions until the server refuses the next one with SQLSTATE 53300 (too_many_connections)
 * and holds them, so every further client of that kind is refused the same way until `release()`.
 * Self-calibrating: it counts no settings, it fills what is left of `max_connections` minus the
 * reserved slots for the user it connects as.
 */
export const exhaustConnections = markDestructive(async function exhaustConnections(
  target: { url: string },
  options: ExhaustOptions = {},
): Promise<HeldConnections> {
  const url = options.url ?? target.url
  const limit = options.limit ?? 5000
  const clients: pg.Client[] = []
  const release = async () => {
    const all = clients.splice(0)
    await Promise.all(all.map((client) => client.end().catch(() => {})))
  }
  // Batches fill fast; near the limit, rejected backends hold a slot for a moment while they exit,
  // so the last slots are filled one at a time, and a refusal counts only when a retry agrees.
  let refusals = 0
  let nearLimit = false
  while (refusals < 2) {
    if (clients.length >= limit) {
      await release()
      throw new PgrigError(
        'E_FAULT_FAILED',
        `exhaustConnections opened ${limit} sessions and the server still accepts more; raise { limit } or lower max_connections`,
      )
    }
    const size = nearLimit ? 1 : Math.min(8, limit - clients.length)
    const batch = await Promise.allSettled(Array.from({ length: size }, () => open(url)))
    for (const result of batch) if (result.status === 'fulfilled') clients.push(result.value)
    let refused = false
    for (const result of batch) {
      if (result.status === 'fulfilled') continue
      if ((result.reason as { code?: string }).code === TOO_MANY_CONNECTIONS) {
        refused = true
        continue
      }
      await release()
      throw new PgrigError(
        'E_FAULT_FAILED',
        `exhaustConnections could not open a session: ${(result.reason as Error).message}`,
        { cause: result.reason },
      )
    }
    if (refused) {
      if (nearLimit) refusals++
      nearLimit = true
      await new Promise((resolve) => setTimeout(resolve, 50))
    } else if (size === 1) refusals = 0
  }
  let released: Promise<void> | undefined
  const handle: HeldConnections = {
    get held() {
      return clients.length
    },
    release: () => (released ??= release()),
    [Symbol.asyncDispose]: () => handle.release(),
  }
  return handle
})
