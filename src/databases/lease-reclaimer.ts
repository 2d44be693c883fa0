/**
 * A lease is reclaimed only once every look for this long found no connection to it: a test that
 * connects per query, or has not connected yet, is never caught between two connections.
 */
const RECLAIM_IDLE_MS = 2_000
/** How often a pool stuck at its cap looks at its leases' connections. */
const RECLAIM_POLL_MS = 100

export interface LeaseReclaimerOptions {
  /** The leased clones, oldest first. */
  leased: () => string[]
  isLeased: (name: string) => boolean
  /** Tests that wait while every slot under the cap is taken and none is on its way back. */
  stuck: () => number
  /** Which of these databases someone is connected to right now. */
  connected: (names: string[]) => Promise<Set<string>>
  /** Takes a lease back and drops it; false when it is no longer leased. */
  take: (name: string) => boolean
  /** Counts a background promise as the pool's work in flight. */
  track: <T>(promise: Promise<T>) => Promise<T>
}

/**
 * Takes back, oldest first, leases nobody has been connected to for RECLAIM_IDLE_MS while the
 * pool is stuck at its cap: a holder that is done but never gave its database back. A lease in
 * use is never taken; while every one is, the waiting tests wait for a holder to give one back.
 */
export class LeaseReclaimer {
  private looking = false
  /** While stuck: since when each lease has been seen with no connection at every look. */
  private readonly idleSince = new Map<string, number>()

  constructor(private readonly options: LeaseReclaimerOptions) {}

  /** Starts looking if the pool is stuck and nobody looks yet. */
  poke(): void {
    if (this.looking || this.options.stuck() <= 0) return
    this.looking = true
    this.options.track(this.look()).catch(() => {})
  }

  private async look(): Promise<void> {
    const { stuck, leased, isLeased, connected, take } = this.options
    try {
      while (stuck() > 0) {
        const names = leased()
        let busy: Set<string>
        try {
          busy = await connected(names)
        } catch {
          return // the server is gone or going
        }
        const now = performance.now()
        for (const name of names) {
          if (busy.has(name) || !isLeased(name)) this.idleSince.delete(name)
          else if (!this.idleSince.has(name)) this.idleSince.set(name, now)
        }
        let short = stuck()
        for (const name of names) {
          if (short <= 0) break
          const since = this.idleSince.get(name)
          if (since === undefined || now - since < RECLAIM_IDLE_MS || !take(name)) continue
          short--
          this.idleSince.delete(name)
        }
        if (stuck() > 0) await new Promise((resolve) => setTimeout(resolve, RECLAIM_POLL_MS))
      }
    } finally {
      this.idleSince.clear()
      this.looking = false
    }
  }
}
