import type { ProtocolStage } from '../link.js'
import { sleep } from '../link.js'
import {
  CANCEL_REQUEST,
  code,
  cstring,
  encode,
  Framing,
  GSSENC_REQUEST,
  pgError,
  RAW,
  SSL_REQUEST,
  T,
  UNTYPED,
} from '../../../pg-wire/index.js'
import type { StatementFault } from './statement-faults.js'

/** What one batch (everything up to the ReadyForQuery it earns) needs done on its answers. */
interface BatchPlan {
  /** Hold back the answers and cut the connection when the batch is done (ambiguous commit). */
  cut?: boolean
  /** Drop the n-th ParseComplete / BindComplete: answers to messages the proxy slipped in. */
  dropParse?: number
  dropBind?: number
}

export interface ProxiedConnectionHost {
  faults(): readonly StatementFault[]
  /** Writes straight to the client, past the toxics. */
  toClient(bytes: Buffer): void
  cut(): void
  /** An ErrorResponse that refuses this connection at its StartupMessage, if a fault says so. */
  refusal?(): Buffer | undefined
}

/**
 * Follows one PostgreSQL connection (both directions) to apply statement faults. Batches are
 * numbered by the ReadyForQuery each earns: the startup is batch 0, then every Query, Sync and
 * FunctionCall the client sends opens the next.
 */
export class ProxiedConnection {
  private readonly up = new Framing('startup', (type, chunk, start, end, whole) =>
    this.seenUp(type, chunk, start, end, whole),
  )
  private readonly down = new Framing('typed', (type) => this.seenDown(type))
  /** Batches sent upstream (their ReadyForQuery is still to come, or came). */
  private sent = 0
  /** ReadyForQuery messages seen downstream. */
  private answered = 0
  private parsesInBatch = 0
  private bindsInBatch = 0
  private parsesAnswered = 0
  private bindsAnswered = 0
  private readonly plans = new Map<number, BatchPlan>()
  private readonly statements = new Map<string, string>()
  private readonly portals = new Map<string, string>()
  private fatal: { batch: number; bytes: Buffer } | undefined
  private dead = false
  /** Set once the client switched to TLS (or GSS): statements can no longer be read. */
  encrypted = false

  readonly upstream: ProtocolStage
  readonly downstream: ProtocolStage

  constructor(private readonly host: ProxiedConnectionHost) {
    this.upstream = {
      active: () =>
        this.up.phase === 'startup' ||
        this.up.holding ||
        (this.up.phase === 'typed' && host.faults().length > 0),
      observe: (chunk) => this.up.hop(chunk),
      pipe: (chunk, forward) => this.pipeUp(chunk, forward),
    }
    this.downstream = {
      active: () =>
        this.down.phase === 'answer' || this.down.holding || this.plans.size > 0 || this.fatal !== undefined,
      observe: (chunk) => this.down.hop(chunk),
      pipe: (chunk, forward) => this.pipeDown(chunk, forward),
    }
  }

  private seenUp(type: number, chunk: Buffer, start: number, end: number, whole: boolean): void {
    if (type === T.sync) {
      this.sent++
      this.parsesInBatch = this.bindsInBatch = 0
    } else if (type === T.query || type === T.functionCall) this.sent++
    else if (type === T.parse) {
      this.parsesInBatch++
      // named statements are parsed once and executed many times: remember them even on the hot path
      if (whole && chunk[start + 5] !== 0) {
        const [name, at] = cstring(chunk, start + 5)
        this.statements.set(name, cstring(chunk.subarray(0, end), at)[0])
      }
    } else if (type === T.bind) this.bindsInBatch++
  }

  private seenDown(type: number): void {
    if (type === T.readyForQuery) {
      this.answered++
      this.parsesAnswered = this.bindsAnswered = 0
    }
  }

  private async pipeUp(chunk: Buffer, forward: (bytes: Buffer) => Promise<void>): Promise<void> {
    for (const piece of this.up.split(chunk)) {
      if (this.dead) return
      if (piece.type === RAW) {
        await forward(piece.bytes)
        continue
      }
      if (piece.type === UNTYPED) {
        const request = piece.bytes.readUInt32BE(4)
        if (request === SSL_REQUEST || request === GSSENC_REQUEST) this.down.phase = 'answer'
        else if (request === CANCEL_REQUEST) this.up.phase = 'opaque'
        else {
          const refusal = this.host.refusal?.()
          if (refusal) {
            // the server never sees the startup, so no backend is spent on this connection
            this.dead = true
            this.host.toClient(refusal)
            this.host.cut()
            return
          }
          this.up.phase = 'typed'
          this.sent++ // the startup earns the first ReadyForQuery
        }
        await forward(piece.bytes)
        continue
      }
      await this.message(piece.type, piece.bytes, forward)
    }
  }

  private async message(
    type: number,
    bytes: Buffer,
    forward: (bytes: Buffer) => Promise<void>,
  ): Promise<void> {
    let sql: string | undefined
    // `seen` already counted this message: the batch it belongs to is the one being built
    let batch = this.sent
    if (type === T.query) {
      sql = cstring(bytes, 5)[0]
      batch = this.sent - 1
    } else if (type === T.parse) {
      const [name, at] = cstring(bytes, 5)
      this.statements.set(name, cstring(bytes, at)[0])
    } else if (type === T.bind) {
      const [portal, at] = cstring(bytes, 5)
      this.portals.set(portal, this.statements.get(cstring(bytes, at)[0]) ?? '')
    } else if (type === T.execute) {
      sql = this.portals.get(cstring(bytes, 5)[0])
    }
    const fault = sql === undefined ? undefined : this.host.faults().find((f) => f.take(sql))
    if (!fault) return forward(bytes)

    const spec = fault.spec
    if (spec.type === 'delay') {
      await sleep(spec.ms)
      return forward(bytes)
    }
    if (spec.type === 'ambiguous-commit') {
      this.plan(batch).cut = true
      return forward(bytes)
    }
    if (fault.closes) {
      this.dead = true
      this.fatal = { batch, bytes: encode.error(pgError(spec.code, fault.errorMessage, 'FATAL')) }
      this.sendFatalWhenDue()
      return
    }
    const raise = raiseStatement(spec.code, fault.errorMessage)
    if (type === T.query) return forward(encode.query(raise))
    // extended protocol: run the failing statement in place of the Execute; its ParseComplete
    // and BindComplete are not answers the client waits for, so they are dropped on the way back
    const plan = this.plan(batch)
    plan.dropParse = this.parsesInBatch + 1
    plan.dropBind = this.bindsInBatch + 1
    this.parsesInBatch++
    this.bindsInBatch++
    return forward(Buffer.concat([encode.parse('', raise), encode.bind('', ''), encode.execute('')]))
  }

  private plan(batch: number): BatchPlan {
    let plan = this.plans.get(batch)
    if (!plan) this.plans.set(batch, (plan = {}))
    return plan
  }

  /** A FATAL error goes out once every earlier batch was answered, then the connection closes. */
  private sendFatalWhenDue(): void {
    if (this.fatal && this.answered >= this.fatal.batch) {
      this.host.toClient(this.fatal.bytes)
      this.fatal = undefined
      this.host.cut()
    }
  }

  private async pipeDown(chunk: Buffer, forward: (bytes: Buffer) => Promise<void>): Promise<void> {
    for (const piece of this.down.split(chunk)) {
      if (piece.type === RAW) {
        await forward(piece.bytes)
        continue
      }
      if (this.down.phase === 'answer') {
        if (piece.type === code('S') || piece.type === code('G')) {
          this.up.phase = this.down.phase = 'opaque'
          this.encrypted = true
        } else {
          this.up.phase = 'startup'
          this.down.phase = 'typed'
        }
        await forward(piece.bytes)
        continue
      }
      // `seen` already counted a ReadyForQuery, so look the plan up by the batch it closed
      const batch = piece.type === T.readyForQuery ? this.answered - 1 : this.answered
      const plan = this.plans.get(batch)
      if (piece.type === T.readyForQuery) this.plans.delete(batch)
      if (plan?.cut) {
        if (piece.type === T.readyForQuery) this.host.cut()
        continue
      }
      if (piece.type === T.parseComplete && plan?.dropParse === ++this.parsesAnswered) continue
      if (piece.type === T.bindComplete && plan?.dropBind === ++this.bindsAnswered) continue
      await forward(piece.bytes)
      if (piece.type === T.readyForQuery) this.sendFatalWhenDue()
    }
  }
}

/**
 * A statement the server itself fails with the given SQLSTATE, so its transaction state (aborted
 * inside a transaction block) is exactly what a real failure leaves behind.
 */
function raiseStatement(sqlstate: string, text: string): string {
  const quoted = text.replaceAll("'", "''").replaceAll('$pgrig$', '')
  return `DO $pgrig$BEGIN RAISE EXCEPTION USING ERRCODE = '${sqlstate}', MESSAGE = '${quoted}'; END$pgrig$`
}
