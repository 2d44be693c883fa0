import type { Socket } from 'node:net'
import { toxicType, type Stream, type Toxic, type ToxicStub } from './toxic.js'

/**
 * A protocol layer that sees a direction's bytes before the toxics do (the PostgreSQL-aware
 * faults). `observe` runs on the hot path and must stay cheap; `pipe` runs only while `active`.
 */
export interface ProtocolStage {
  active(): boolean
  observe(chunk: Buffer): void
  pipe(chunk: Buffer, forward: (bytes: Buffer) => Promise<void>): Promise<void>
}

export interface LinkHost {
  toxics(stream: Stream): readonly Toxic[]
}

interface ToxicRun {
  toxic: Toxic
  stub: ToxicStub & { arrivedAt: number }
  abort: AbortController
  /** Toxicity is rolled once per connection and toxic, like Toxiproxy's stubs. */
  enabled: boolean
}

/** One client connection and its upstream connection, with a pipeline per direction. */
export class Link {
  private closed = false
  readonly upstream: Direction
  readonly downstream: Direction
  onClose: (() => void) | undefined

  constructor(
    readonly host: LinkHost,
    readonly client: Socket,
    readonly server: Socket,
    stages: { upstream?: ProtocolStage; downstream?: ProtocolStage } = {},
    /** The TCP sockets under `client` and `server` when those are TLS sockets (which cannot send RST). */
    private readonly tcp: readonly Socket[] = [client, server],
  ) {
    this.upstream = new Direction(this, 'upstream', client, server, stages.upstream)
    this.downstream = new Direction(this, 'downstream', server, client, stages.downstream)
    for (const socket of [client, server]) {
      socket.setNoDelay(true)
      socket.on('error', () => this.close('reset'))
      socket.on('close', () => this.close('end'))
    }
  }

  get isClosed(): boolean {
    return this.closed
  }

  /** Starts clock-driven toxics (timeout, reset_peer) that were added while the link was open. */
  toxicsChanged(): void {
    this.upstream.syncRuns()
    this.downstream.syncRuns()
  }

  close(how: 'end' | 'reset'): void {
    if (this.closed) return
    this.closed = true
    this.upstream.stop()
    this.downstream.stop()
    if (how === 'reset') for (const socket of this.tcp) if (!socket.destroyed) socket.resetAndDestroy()
    for (const socket of [this.client, this.server]) {
      if (socket.destroyed) continue
      if (how === 'reset') {
        if (!this.tcp.includes(socket)) socket.destroy()
      } else {
        // end() lets bytes already written (an injected FATAL error) reach the peer first
        socket.end()
        setTimeout(() => socket.destroy(), 1000).unref()
      }
    }
    this.onClose?.()
  }
}

class Direction {
  private readonly queue: { chunk: Buffer; at: number }[] = []
  private pumping = false
  private ended = false
  private readonly runs = new Map<Toxic, ToxicRun>()
  private readonly state = new Map<Toxic, Record<string, number>>()

  constructor(
    private readonly link: Link,
    private readonly stream: Stream,
    private readonly source: Socket,
    private readonly target: Socket,
    private readonly stage: ProtocolStage | undefined,
  ) {
    source.on('data', (chunk: Buffer) => this.onData(chunk))
    source.on('end', () => {
      this.ended = true
      if (!this.pumping) void this.finish()
    })
    this.syncRuns()
  }

  private onData(chunk: Buffer): void {
    if (!this.pumping && this.host.toxics(this.stream).length === 0 && !this.stage?.active()) {
      // hot path: no toxic and no statement fault, so bytes go straight through
      this.stage?.observe(chunk)
      if (!this.target.write(chunk)) {
        this.source.pause()
        this.target.once('drain', () => this.source.resume())
      }
      return
    }
    this.queue.push({ chunk, at: performance.now() })
    // keep reading ahead (arrival times stay true, so latency is not paid once per chunk in a
    // stream), but not without bound
    if (this.queue.length >= 64) this.source.pause()
    if (!this.pumping) void this.pump()
  }

  private get host(): LinkHost {
    return this.link.host
  }

  private async pump(): Promise<void> {
    this.pumping = true
    try {
      let next
      while ((next = this.queue.shift()) && !this.link.isClosed) {
        if (this.queue.length < 16 && this.source.isPaused() && !this.ended) this.source.resume()
        const { chunk, at } = next
        const toxics = this.activeToxics()
        const throughToxics = (bytes: Buffer) => this.runToxics(toxics, 0, bytes, at)
        if (this.stage?.active()) await this.stage.pipe(chunk, throughToxics)
        else {
          this.stage?.observe(chunk)
          await throughToxics(chunk)
        }
      }
    } finally {
      this.pumping = false
      if (!this.link.isClosed) {
        if (this.ended) void this.finish()
        else this.source.resume()
      }
    }
  }

  private activeToxics(): ToxicRun[] {
    this.syncRuns()
    const runs: ToxicRun[] = []
    for (const toxic of this.host.toxics(this.stream)) {
      const run = this.runs.get(toxic)
      if (run?.enabled) runs.push(run)
    }
    return runs
  }

  private async runToxics(toxics: ToxicRun[], index: number, chunk: Buffer, at: number): Promise<void> {
    const run = toxics[index]
    if (!run) return this.write(chunk)
    if (run.abort.signal.aborted) return this.runToxics(toxics, index + 1, chunk, at)
    run.stub.arrivedAt = at
    const type = toxicType(run.toxic.type)
    if (!type?.pipe) return this.runToxics(toxics, index + 1, chunk, at)
    await type.pipe(chunk, {
      ...run.stub,
      arrivedAt: at,
      // The next toxic sees the bytes when this one lets them go (Toxiproxy chains toxics by
      // channels): two 100 ms latencies delay by 200 ms, not by overlapping 100 ms. A latency
      // toxic says when it was due to let them go, so a late timer is not paid again downstream.
      forward: (bytes, leftAt) =>
        this.runToxics(toxics, index + 1, bytes, Math.min(leftAt ?? Infinity, performance.now())),
    })
  }

  private write(chunk: Buffer): Promise<void> {
    if (this.link.isClosed || this.target.destroyed) return Promise.resolve()
    if (this.target.write(chunk)) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        this.target.off('drain', done)
        this.target.off('close', done)
        resolve()
      }
      this.target.on('drain', done)
      this.target.on('close', done)
    })
  }

  /** Matches the runs to the host's toxics: new toxics start, removed ones stop. */
  syncRuns(): void {
    if (this.link.isClosed) return
    const current = this.host.toxics(this.stream)
    for (const [toxic, run] of this.runs) {
      if (!current.includes(toxic)) {
        run.abort.abort()
        this.runs.delete(toxic)
      }
    }
    for (const toxic of current) {
      if (this.runs.has(toxic)) continue
      const abort = new AbortController()
      const previous = [...this.state.entries()].find(([t]) => t.name === toxic.name)
      const state = previous?.[1] ?? {}
      if (previous) this.state.delete(previous[0])
      this.state.set(toxic, state)
      const stub: ToxicRun['stub'] = {
        attributes: toxic.attributes,
        arrivedAt: performance.now(),
        state,
        signal: abort.signal,
        forward: (bytes) => this.write(bytes),
        sleep: (ms) => sleep(ms, abort.signal),
        close: (how) => this.link.close(how),
      }
      const run: ToxicRun = {
        toxic,
        stub,
        abort,
        enabled: Math.random() < toxic.toxicity || toxic.toxicity >= 1,
      }
      this.runs.set(toxic, run)
      if (run.enabled) toxicType(toxic.type)?.start?.(stub)
    }
  }

  /** The source closed: run close hooks (slow_close), then pass the FIN on. */
  private async finish(): Promise<void> {
    for (const run of this.activeToxics()) {
      const type = toxicType(run.toxic.type)
      if (type?.beforeClose) await type.beforeClose(run.stub)
    }
    if (!this.link.isClosed) this.target.end()
  }

  stop(): void {
    for (const run of this.runs.values()) run.abort.abort()
    this.runs.clear()
    this.queue.length = 0
  }
}

/**
 * Waits `ms`, never less: Node's timers count from the event loop's clock, which runs up to a
 * millisecond behind, so a timer may fire that much early; the last part of a wait that came up
 * short is waited out turn by turn (a latency toxic promises its delay to ±2 ms).
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve()
  const deadline = performance.now() + ms
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined
    let turn: NodeJS.Immediate | undefined
    const check = () => {
      const left = deadline - performance.now()
      if (left >= 1) timer = setTimeout(check, left)
      else if (left > 0) turn = setImmediate(check)
      else done()
    }
    function done() {
      clearTimeout(timer)
      if (turn) clearImmediate(turn)
      signal?.removeEventListener('abort', done)
      resolve()
    }
    signal?.addEventListener('abort', done, { once: true })
    timer = setTimeout(check, ms)
  })
}
