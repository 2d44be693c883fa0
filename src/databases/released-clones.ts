export const DROP_GRACE_MS = 2_000
/** The grace a drop gets while tests wait for a clone the cap holds back: a leaked connection must not stall the run. */
const PRESSED_GRACE_MS = 250
/**
 * How often pg_stat_activity is asked whether the released clones are free of connections. The
 * drops run in the background, so a later look costs no test anything; measured (bench:overhead,
 * 200 trivial tests, one A/B run), 50 ms against 10 ms took 0.43 s of CPU off the Vitest processes.
 * Each look waits this long first (unless tests wait on the cap), so the releases of that time share
 * one look and the tests' backends have exited by then: not one query per release.
 */
const DRAIN_POLL_MS = 50

export interface ReleasedClonesOptions {
  /** How long a released clone waits for its connections to close before it is dropped anyway. */
  dropGraceMs: number
  /** Tests wait on the cap, or the pool is closing: the grace shrinks to PRESSED_GRACE_MS. */
  pressed: () => boolean
  /** Which of these databases someone is connected to right now. */
  connected: (names: string[]) => Promise<Set<string>>
  /** Drops a clone whose time has come (in the background). */
  drop: (name: string) => void
  /** Counts a background promise as the pool's work in flight. */
  track: <T>(promise: Promise<T>) => Promise<T>
}

/**
 * Released clones waiting for the test's own connections to go: each is dropped once they have
 * (a pool's `end()` resolves before its sockets close; dropping under them would send its
 * clients 57P01 as an unhandled error), at the latest when its grace ends (then WITH (FORCE)
 * terminates what is left, and nobody is told: the test is over).
 */
export class ReleasedClones {
  /** With when each was released. */
  private readonly waiting = new Map<string, number>()
  private drainer: Promise<void> | undefined

  constructor(private readonly options: ReleasedClonesOptions) {}

  get size(): number {
    return this.waiting.size
  }

  add(name: string): void {
    this.waiting.set(name, performance.now())
    this.drainer ??= this.options.track(this.drain()).finally(() => (this.drainer = undefined))
  }

  /** Forgets them all (their server is about to go with them). */
  clear(): void {
    this.waiting.clear()
  }

  private async drain(): Promise<void> {
    // Not in the releaser's turn: its own answer (an HTTP reply, a test's end) goes out before
    // the look at pg_stat_activity is written to the server.
    await new Promise((resolve) => setImmediate(resolve))
    // Tests waiting on the cap get a look at once, as long as the last one let a clone go.
    let letGo = true
    while (this.waiting.size > 0) {
      if (!letGo || !this.options.pressed())
        await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS))
      const names = [...this.waiting.keys()]
      let busy: Set<string>
      try {
        busy = await this.options.connected(names)
      } catch {
        busy = new Set() // the server is gone or going: the drops fail and free their slots
      }
      const { dropGraceMs } = this.options
      const grace = this.options.pressed() ? Math.min(PRESSED_GRACE_MS, dropGraceMs) : dropGraceMs
      const now = performance.now()
      const due = names.filter((name) => !busy.has(name) || now - this.waiting.get(name)! >= grace)
      for (const name of due) {
        this.waiting.delete(name)
        this.options.drop(name)
      }
      letGo = due.length > 0
    }
  }
}
