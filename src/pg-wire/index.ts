/**
 * The one PostgreSQL wire codec: codes, reading and framing messages, and encoding the few that
 * pgrig writes. The chaos proxy, transaction mode and the external server's TLS probe all use it; a
 * protocol fix goes here.
 */
export * from './codes.js'
export * from './decode.js'
export * from './encode.js'
export * from './framing.js'
export * from './message-reader.js'
