/** Reading whole messages at an endpoint that answers them (pgrig's own servers, not a pass-through proxy). */

export interface Message {
  /** One ASCII letter (`Q`, `P`, `Z`…). */
  type: string
  /** The whole message, type byte and length included, ready to forward as is. */
  raw: Buffer
  /** The payload after the type byte and length. */
  body: Buffer
}

/** Splits a byte stream into whole messages; feed it chunks as they arrive. */
export class MessageReader {
  private buffer: Buffer = Buffer.alloc(0)

  /** The typed messages completed by `chunk`. */
  push(chunk: Buffer): Message[] {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk])
    const out: Message[] = []
    while (this.buffer.length >= 5) {
      const length = this.buffer.readInt32BE(1)
      if (this.buffer.length < length + 1) break
      const raw = this.buffer.subarray(0, length + 1)
      out.push({ type: String.fromCharCode(raw[0] ?? 0), raw, body: raw.subarray(5) })
      this.buffer = this.buffer.subarray(length + 1)
    }
    return out
  }

  /** The untyped startup-phase message (length, code, payload); undefined until complete. */
  pushStartup(chunk: Buffer): { code: number; body: Buffer } | undefined {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk])
    if (this.buffer.length < 8) return undefined
    const length = this.buffer.readInt32BE(0)
    if (this.buffer.length < length) return undefined
    const packet = this.buffer.subarray(0, length)
    this.buffer = this.buffer.subarray(length)
    return { code: packet.readInt32BE(4), body: packet.subarray(8) }
  }

  /** Bytes received after the startup-phase message, handed on to `push`. */
  rest(): Buffer {
    const rest = this.buffer
    this.buffer = Buffer.alloc(0)
    return rest
  }
}
