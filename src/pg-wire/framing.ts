import { STARTUP_CODES, TLS_HANDSHAKE_RECORD } from './codes.js'

/**
 * Following one direction of a connection a proxy passes on: message boundaries are found as the
 * bytes go by, so faults can act on whole messages, without holding the stream up when none do.
 *
 * - startup: untyped messages (length, code) until the StartupMessage
 * - answer: one byte answering SSLRequest/GSSENCRequest
 * - typed: type byte + length
 * - opaque: TLS/GSS or not PostgreSQL at all; bytes are no longer read
 */
export type Phase = 'startup' | 'answer' | 'typed' | 'opaque'

export const RAW = -1
export const UNTYPED = 0

export interface Piece {
  /** RAW (pass on as is), UNTYPED (startup-phase message) or the message type byte. */
  type: number
  bytes: Buffer
}

/** Called for each message whose header is seen; `whole` when the message lies in `chunk`. */
export type MessageSeen = (type: number, chunk: Buffer, start: number, end: number, whole: boolean) => void

/** Finds message boundaries in one direction of a PostgreSQL connection. */
export class Framing {
  /** Bytes of a message already passed on whose end is still ahead. */
  private skip = 0
  /** The start of a message whose header was cut by a chunk end, already passed on. */
  private head: Buffer | null = null
  /** An incomplete message held back (split mode only). */
  private carry: Buffer | null = null

  constructor(
    public phase: Phase,
    private readonly seen: MessageSeen,
  ) {}

  /** Holding bytes back: the direction must stay on the slow path until they go. */
  get holding(): boolean {
    return this.carry !== null
  }

  /** Hot path: follows boundaries in a typed stream without copying whole messages. */
  hop(chunk: Buffer): void {
    if (this.phase !== 'typed') return
    const n = chunk.length
    let i = 0
    if (this.head) {
      i = Math.min(5 - this.head.length, n)
      this.fillHead(chunk.subarray(0, i))
      if (this.head) return
    }
    if (this.skip > 0) {
      const s = Math.min(this.skip, n - i)
      this.skip -= s
      i += s
    }
    while (i < n) {
      if (n - i < 5) {
        this.head = Buffer.from(chunk.subarray(i))
        return
      }
      const total = 1 + chunk.readUInt32BE(i + 1)
      const whole = i + total <= n
      this.seen(chunk[i]!, chunk, i, i + total, whole)
      if (!whole) {
        this.skip = i + total - n
        return
      }
      i += total
    }
  }

  /** Slow path: whole messages, one at a time (the caller may change `phase` between them). */
  *split(chunk: Buffer): Generator<Piece> {
    let data = chunk
    if (this.head) {
      const take = Math.min(5 - this.head.length, data.length)
      yield { type: RAW, bytes: data.subarray(0, take) }
      this.fillHead(data.subarray(0, take))
      data = data.subarray(take)
      if (this.head) return
    }
    if (this.skip > 0) {
      const s = Math.min(this.skip, data.length)
      if (s > 0) yield { type: RAW, bytes: data.subarray(0, s) }
      this.skip -= s
      data = data.subarray(s)
    }
    if (this.carry) {
      data = Buffer.concat([this.carry, data])
      this.carry = null
    }
    let i = 0
    while (i < data.length) {
      if (this.phase === 'opaque') {
        yield { type: RAW, bytes: data.subarray(i) }
        return
      }
      if (this.phase === 'answer') {
        yield { type: data[i]!, bytes: data.subarray(i, i + 1) }
        i += 1
        continue
      }
      const typed = this.phase === 'typed'
      const headerSize = typed ? 5 : 8
      if (!typed && data[i] === TLS_HANDSHAKE_RECORD) {
        // a TLS ClientHello straight away (sslnegotiation=direct)
        this.phase = 'opaque'
        continue
      }
      if (!typed && (data[i] !== 0 || (data.length - i > 1 && data[i + 1] !== 0))) {
        // a startup packet is under 64 KiB, so it starts with two zero bytes: anything else is
        // another protocol, passed on now rather than held back waiting for 8 bytes
        this.phase = 'opaque'
        continue
      }
      if (data.length - i < headerSize) break
      const total = typed ? 1 + data.readUInt32BE(i + 1) : data.readUInt32BE(i)
      if (!typed && (total < 8 || total > 10_000 || !STARTUP_CODES.has(data.readUInt32BE(i + 4)))) {
        // not a PostgreSQL client: stop reading and pass everything through
        this.phase = 'opaque'
        continue
      }
      if (data.length - i < total) break
      const bytes = data.subarray(i, i + total)
      if (typed) this.seen(bytes[0]!, bytes, 0, total, true)
      yield { type: typed ? bytes[0]! : UNTYPED, bytes }
      i += total
    }
    if (i < data.length) this.carry = Buffer.from(data.subarray(i))
  }

  /** Adds `bytes` to a header cut by the last chunk's end; once whole, its message is seen and skipped. */
  private fillHead(bytes: Buffer): void {
    const head = Buffer.concat([this.head!, bytes])
    if (head.length < 5) {
      this.head = head
      return
    }
    const total = 1 + head.readUInt32BE(1)
    this.seen(head[0]!, head, 0, total, false)
    this.skip = total - 5
    this.head = null
  }
}
