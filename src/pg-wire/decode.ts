/** Reading the fields of PostgreSQL messages. */

/**
 * Reads the NUL-terminated string at `offset`; returns it and the offset after the NUL (the rest
 * of the buffer when there is no NUL).
 */
export function cstring(buf: Buffer, offset: number): [string, number] {
  const end = buf.indexOf(0, offset)
  if (end < 0) return [buf.toString('utf8', offset), buf.length]
  return [buf.toString('utf8', offset, end), end + 1]
}

/** Reads up to `count` NUL-terminated strings from the start of a message body (fewer when a NUL is missing). */
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

/** The name/value pairs of a StartupMessage body (after the length and protocol code). */
export function startupParameters(body: Buffer): Record<string, string> {
  const params: Record<string, string> = {}
  const parts = body.toString('utf8').split('\0')
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const key = parts[i]
    if (key) params[key] = parts[i + 1] ?? ''
  }
  return params
}

/** ErrorResponse / NoticeResponse fields keyed by their one-letter codes (S, V, C, M, H…). */
export type ErrorFields = Record<string, string>

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
