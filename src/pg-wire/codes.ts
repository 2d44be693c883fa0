/**
 * The numbers of the PostgreSQL v3 wire protocol pgrig reads and writes, defined once.
 * https://www.postgresql.org/docs/current/protocol-message-formats.html
 */

/** Codes of the untyped messages a client may open a connection with (after the 4-byte length). */
export const SSL_REQUEST = 80877103
export const GSSENC_REQUEST = 80877104
export const CANCEL_REQUEST = 80877102
/** The protocol versions a StartupMessage asks for: 3.0, and 3.2 (PostgreSQL 18). */
export const PROTOCOL_3_0 = 196608
export const PROTOCOL_3_2 = 196610

/** Every code an untyped startup-phase message may carry. */
export const STARTUP_CODES: ReadonlySet<number> = new Set([
  SSL_REQUEST,
  GSSENC_REQUEST,
  CANCEL_REQUEST,
  PROTOCOL_3_0,
  PROTOCOL_3_2,
])

/** True for a StartupMessage's code (any 3.x protocol), false for the requests above. */
export function isStartupProtocol(code: number): boolean {
  return code >>> 16 === 3
}

/** The first byte of a TLS handshake record: a ClientHello sent straight away (sslnegotiation=direct). */
export const TLS_HANDSHAKE_RECORD = 0x16

/** A message type as its byte. */
export const code = (letter: string): number => letter.charCodeAt(0)

/** Type bytes of the typed messages pgrig looks at. */
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
  authentication: code('R'),
} as const
