/**
 * Just enough of the PostgreSQL v3 wire protocol for the transaction-isolation session proxy:
 * framing, the startup handshake, and the few messages it answers itself.
 * https://www.postgresql.org/docs/current/protocol-message-formats.html
 */

export interface Message {
  /** One ASCII letter (`Q`, `P`, `Z`…). */
  type: string
  /** The whole message, type byte and length included, ready to forward as is. */
  raw: Buffer
  /** The payload after the type byte and length. */
  body: Buffer
}

export const SSL_REQUEST = 80877103
export const GSSENC_REQUEST = 80877104
export const CANCEL_REQUEST = 80877102
export const PROTOCOL_3 = 196608

/** Splits a byte stream into typed messages; feed it chunks as they arrive. */
export class MessageReader {
  private buffer: Buffer = Buffer.alloc(0)

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

  /** The untyped startup packet (length, code, payload); undefined until complete. */
  pushStartup(chunk: Buffer): { code: number; body: Buffer } | undefined {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk])
    if (this.buffer.length < 8) return undefined
    const length = this.buffer.readInt32BE(0)
    if (this.buffer.length < length) return undefined
    const packet = this.buffer.subarray(0, length)
    this.buffer = this.buffer.subarray(length)
    return { code: packet.readInt32BE(4), body: packet.subarray(8) }
  }

  /** Bytes received after the startup packet, handed on to the typed reader. */
  rest(): Buffer {
    const rest = this.buffer
    this.buffer = Buffer.alloc(0)
    return rest
  }
}

function frame(type: string, body: Buffer): Buffer {
  const out = Buffer.alloc(5 + body.length)
  out.write(type, 0, 'latin1')
  out.writeInt32BE(4 + body.length, 1)
  body.copy(out, 5)
  return out
}

function cstring(text: string): Buffer {
  return Buffer.from(`${text}\0`, 'utf8')
}

/** Reads NUL-terminated strings from the start of a message body. */
export function readCStrings(body: Buffer, count: number): { values: string[]; end: number } {
  const values: string[] = []
  let at = 0
  for (let i = 0; i < count; i++) {
    const nul = body.indexOf(0, at)
    if (nul === -1) break
    values.push(body.toString('utf8', at, nul))
    at = nul + 1
  }
  return { values, end: at }
}

export function startupParameters(body: Buffer): Record<string, string> {
  const params: Record<string, string> = {}
  const parts = body.toString('utf8').split('\0')
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const key = parts[i]
    if (key) params[key] = parts[i + 1] ?? ''
  }
  return params
}

export const encode = {
  query: (text: string) => frame('Q', cstring(text)),
  sync: () => frame('S', Buffer.alloc(0)),
  copyFail: (why: string) => frame('f', cstring(why)),
  authCleartext: () => frame('R', Buffer.from([0, 0, 0, 3])),
  authOk: () => frame('R', Buffer.from([0, 0, 0, 0])),
  parameterStatus: (name: string, value: string) =>
    frame('S', Buffer.concat([cstring(name), cstring(value)])),
  backendKeyData: (pid: number, key: number) => {
    const body = Buffer.alloc(8)
    body.writeInt32BE(pid, 0)
    body.writeInt32BE(key, 4)
    return frame('K', body)
  },
  readyForQuery: (status: 'I' | 'T' | 'E') => frame('Z', Buffer.from(status, 'latin1')),
  commandComplete: (tag: string) => frame('C', cstring(tag)),
  parseComplete: () => frame('1', Buffer.alloc(0)),
  bindComplete: () => frame('2', Buffer.alloc(0)),
  closeComplete: () => frame('3', Buffer.alloc(0)),
  noData: () => frame('n', Buffer.alloc(0)),
  noParameters: () => frame('t', Buffer.from([0, 0])),
  error: (fields: ErrorFields) =>
    frame(
      'E',
      Buffer.concat([
        ...Object.entries(fields).map(([k, v]) => Buffer.concat([Buffer.from(k, 'latin1'), cstring(v)])),
        Buffer.from([0]),
      ]),
    ),
}

/** ErrorResponse fields keyed by their one-letter codes (S, V, C, M, H…). */
export type ErrorFields = Record<string, string>

export function pgError(code: string, message: string): ErrorFields {
  return { S: 'ERROR', V: 'ERROR', C: code, M: message }
}

export function readErrorFields(body: Buffer): ErrorFields {
  const fields: ErrorFields = {}
  let at = 0
  while (at < body.length && body[at] !== 0) {
    const key = String.fromCharCode(body[at] ?? 0)
    const nul = body.indexOf(0, at + 1)
    if (nul === -1) break
    fields[key] = body.toString('utf8', at + 1, nul)
    at = nul + 1
  }
  return fields
}
