/** Just enough of the PostgreSQL v3 wire protocol to read statements and write a few messages. */

export const SSL_REQUEST = 80877103
export const GSSENC_REQUEST = 80877104
export const CANCEL_REQUEST = 80877102

export const code = (letter: string): number => letter.charCodeAt(0)

export const T = {
  query: code('Q'),
  parse: code('P'),
  bind: code('B'),
  execute: code('E'),
  sync: code('S'),
  functionCall: code('F'),
  readyForQuery: code('Z'),
  parseComplete: code('1'),
  bindComplete: code('2'),
} as const

/** Reads the NUL-terminated string at `offset`; returns it and the offset after the NUL. */
export function cstring(buf: Buffer, offset: number): [string, number] {
  const end = buf.indexOf(0, offset)
  if (end < 0) return [buf.toString('utf8', offset), buf.length]
  return [buf.toString('utf8', offset, end), end + 1]
}

function message(type: string, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length)
  out[0] = code(type)
  out.writeUInt32BE(4 + body.length, 1)
  body.copy(out, 5)
  return out
}

const z = (s: string) => Buffer.from(s + '\0', 'utf8')

export function queryMessage(sql: string): Buffer {
  return message('Q', z(sql))
}

/** Parse + Bind + Execute of a parameterless statement on the unnamed statement and portal. */
export function runUnnamed(sql: string): Buffer {
  const parse = message('P', Buffer.concat([z(''), z(sql), Buffer.from([0, 0])]))
  // portal '', statement '', 0 param formats, 0 params, 0 result formats
  const bind = message('B', Buffer.concat([z(''), z(''), Buffer.alloc(6)]))
  const execute = message('E', Buffer.concat([z(''), Buffer.alloc(4)]))
  return Buffer.concat([parse, bind, execute])
}

export function errorResponse(severity: 'ERROR' | 'FATAL', sqlstate: string, text: string): Buffer {
  return message(
    'E',
    Buffer.concat([z('S' + severity), z('V' + severity), z('C' + sqlstate), z('M' + text), Buffer.from([0])]),
  )
}

/**
 * A statement the server itself fails with the given SQLSTATE, so its transaction state (aborted
 * inside a transaction block) is exactly what a real failure leaves behind.
 */
export function raiseStatement(sqlstate: string, text: string): string {
  const quoted = text.replaceAll("'", "''").replaceAll('$pgrig$', '')
  return `DO $pgrig$BEGIN RAISE EXCEPTION USING ERRCODE = '${sqlstate}', MESSAGE = '${quoted}'; END$pgrig$`
}
