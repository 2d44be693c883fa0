/** Writing the few PostgreSQL messages pgrig sends itself. */
import { CANCEL_REQUEST, PROTOCOL_3_0 } from './codes.js'
import type { ErrorFields } from './decode.js'

const EMPTY = Buffer.alloc(0)
const ZERO = Buffer.from([0])

/** A typed message: type byte, length (itself included), body. */
export function frame(type: string, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length)
  out.write(type, 0, 'latin1')
  out.writeInt32BE(4 + body.length, 1)
  body.copy(out, 5)
  return out
}

/** A typed message whose body starts with NUL-terminated `strings` and ends with `rest`. */
export function frameStrings(type: string, strings: readonly string[], rest: Buffer = EMPTY): Buffer {
  return frame(type, Buffer.concat([...strings.map(nulTerminated), rest]))
}

function nulTerminated(text: string): Buffer {
  return Buffer.from(`${text}\0`, 'utf8')
}

/** An untyped startup-phase message: length (itself included), code, body. */
function untyped(code: number, body: Buffer = EMPTY): Buffer {
  const out = Buffer.allocUnsafe(8 + body.length)
  out.writeInt32BE(8 + body.length, 0)
  out.writeInt32BE(code, 4)
  body.copy(out, 8)
  return out
}

/** Fields of an ErrorResponse with the given SQLSTATE. */
export function pgError(code: string, message: string, severity: 'ERROR' | 'FATAL' = 'ERROR'): ErrorFields {
  return { S: severity, V: severity, C: code, M: message }
}

export const encode = {
  // ---- untyped (startup phase) ----
  /** SSLRequest or GSSENCRequest. */
  request: (code: number) => untyped(code),
  startup: (params: Record<string, string>) =>
    untyped(
      PROTOCOL_3_0,
      Buffer.concat([
        ...Object.entries(params).flatMap(([k, v]) => [nulTerminated(k), nulTerminated(v)]),
        ZERO,
      ]),
    ),
  cancel: (pid: number, secret: number) => {
    const body = Buffer.allocUnsafe(8)
    body.writeInt32BE(pid, 0)
    body.writeInt32BE(secret, 4)
    return untyped(CANCEL_REQUEST, body)
  },

  // ---- frontend ----
  query: (text: string) => frame('Q', nulTerminated(text)),
  /** Parse of a statement declaring no parameter types. */
  parse: (name: string, text: string) => frameStrings('P', [name, text], Buffer.from([0, 0])),
  /** Bind with no parameters and default (text) result formats. */
  bind: (portal: string, statement: string) => frameStrings('B', [portal, statement], Buffer.alloc(6)),
  /** Execute with no row limit. */
  execute: (portal: string) => frameStrings('E', [portal], Buffer.alloc(4)),
  sync: () => frame('S', EMPTY),
  copyFail: (why: string) => frame('f', nulTerminated(why)),

  // ---- backend ----
  authCleartext: () => frame('R', Buffer.from([0, 0, 0, 3])),
  authOk: () => frame('R', Buffer.from([0, 0, 0, 0])),
  parameterStatus: (name: string, value: string) => frameStrings('S', [name, value]),
  backendKeyData: (pid: number, key: number) => {
    const body = Buffer.allocUnsafe(8)
    body.writeInt32BE(pid, 0)
    body.writeInt32BE(key, 4)
    return frame('K', body)
  },
  readyForQuery: (status: 'I' | 'T' | 'E') => frame('Z', Buffer.from(status, 'latin1')),
  commandComplete: (tag: string) => frame('C', nulTerminated(tag)),
  parseComplete: () => frame('1', EMPTY),
  bindComplete: () => frame('2', EMPTY),
  closeComplete: () => frame('3', EMPTY),
  noData: () => frame('n', EMPTY),
  noParameters: () => frame('t', Buffer.from([0, 0])),
  error: (fields: ErrorFields) =>
    frame(
      'E',
      Buffer.concat([
        ...Object.entries(fields).map(([k, v]) =>
          Buffer.concat([Buffer.from(k, 'latin1'), nulTerminated(v)]),
        ),
        ZERO,
      ]),
    ),
}
