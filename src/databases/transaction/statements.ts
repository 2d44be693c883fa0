/**
 * Recognises the transaction-control statements the code under test sends, so the session
 * proxy can turn them into savepoints of the test's transaction instead of ending it.
 */

export type Statement =
  | { kind: 'begin'; unsupportedMode: string | null }
  | { kind: 'commit'; chain: boolean }
  | { kind: 'rollback'; chain: boolean }
  | { kind: 'two-phase' }
  | { kind: 'listen' }
  | { kind: 'other' }

/** Modes a savepoint can honour because they are what the test's transaction already has. */
const HARMLESS_MODES = new Set(['read write', 'isolation level read committed', 'not deferrable'])

const BEGIN = /^(?:begin|start\s+transaction)(?:\s+(?:work|transaction))?(?:\s+(.*))?$/
const COMMIT = /^(?:commit|end)(?:\s+(?:work|transaction))?(\s+and\s+(no\s+)?chain)?$/
const ROLLBACK = /^(?:rollback|abort)(?:\s+(?:work|transaction))?(\s+and\s+(no\s+)?chain)?$/
const TWO_PHASE = /^(?:prepare\s+transaction|commit\s+prepared|rollback\s+prepared)\b/
const LISTEN = /^(?:listen|unlisten)\b/

export function classify(sql: string): Statement {
  const text = normalise(sql)
  const begin = BEGIN.exec(text)
  if (begin) {
    const modes = (begin[1] ?? '')
      .split(',')
      .map((m) => m.trim())
      .filter((m) => m !== '')
    const bad = modes.find((m) => !HARMLESS_MODES.has(m))
    return { kind: 'begin', unsupportedMode: bad ?? null }
  }
  const commit = COMMIT.exec(text)
  if (commit) return { kind: 'commit', chain: commit[1] !== undefined && commit[2] === undefined }
  const rollback = ROLLBACK.exec(text)
  if (rollback) return { kind: 'rollback', chain: rollback[1] !== undefined && rollback[2] === undefined }
  if (TWO_PHASE.test(text)) return { kind: 'two-phase' }
  if (LISTEN.test(text)) return { kind: 'listen' }
  return { kind: 'other' }
}

/**
 * A statement the server fails with `format`, its `%` filled with the start of `statement`, so
 * the error comes back in the place of the statement it stands for.
 */
export function raising(format: string, statement: string): string {
  const quoted = `'${statement.trim().slice(0, 40).replace(/'/g, "''")}'`
  return `DO $pgrig$BEGIN RAISE EXCEPTION '${format.replace(/'/g, "''")}', ${quoted}; END$pgrig$`
}

/** Lower case, comments dropped, whitespace collapsed, trailing semicolons removed. */
function normalise(sql: string): string {
  return stripComments(sql)
    .replace(/;+\s*$/, '')
    .replace(/\s+/g, ' ')
    .trim()
    .toLowerCase()
}

function stripComments(sql: string): string {
  let out = ''
  for (const piece of scan(sql)) if (piece.type !== 'comment') out += piece.text
  return out
}

/** Splits a simple-query string into statements at top-level semicolons. */
export function splitStatements(sql: string): string[] {
  const statements: string[] = []
  let current = ''
  for (const piece of scan(sql)) {
    if (piece.type === 'semicolon') {
      statements.push(current)
      current = ''
    } else {
      current += piece.text
    }
  }
  statements.push(current)
  return statements.filter((s) => stripComments(s).trim() !== '')
}

type Piece = { type: 'code' | 'quoted' | 'comment' | 'semicolon'; text: string }

/** A small lexer: quotes, E'' escapes, quoted identifiers, dollar quotes, nested comments. */
function* scan(sql: string): Generator<Piece> {
  let i = 0
  let code = ''
  const flush = function* (): Generator<Piece> {
    if (code !== '') yield { type: 'code', text: code }
    code = ''
  }
  while (i < sql.length) {
    const c = sql[i]
    const next = sql[i + 1]
    if (c === ';') {
      yield* flush()
      yield { type: 'semicolon', text: ';' }
      i++
    } else if (c === '-' && next === '-') {
      yield* flush()
      const end = sql.indexOf('\n', i)
      const stop = end === -1 ? sql.length : end
      yield { type: 'comment', text: sql.slice(i, stop) }
      i = stop
    } else if (c === '/' && next === '*') {
      yield* flush()
      let depth = 0
      let j = i
      while (j < sql.length) {
        if (sql[j] === '/' && sql[j + 1] === '*') {
          depth++
          j += 2
        } else if (sql[j] === '*' && sql[j + 1] === '/') {
          depth--
          j += 2
          if (depth === 0) break
        } else j++
      }
      yield { type: 'comment', text: ' ' }
      i = j
    } else if (c === "'" || c === '"') {
      const escapes = c === "'" && /[eE]$/.test(code) && !/[\w$][eE]$/.test(code)
      let j = i + 1
      while (j < sql.length) {
        if (escapes && sql[j] === '\\') j += 2
        else if (sql[j] === c && sql[j + 1] === c) j += 2
        else if (sql[j] === c) break
        else j++
      }
      yield* flush()
      yield { type: 'quoted', text: sql.slice(i, j + 1) }
      i = j + 1
    } else if (c === '$' && !/[\w$]$/.test(code)) {
      const tag = /^\$([A-Za-z_][\w]*)?\$/.exec(sql.slice(i))?.[0]
      if (tag === undefined) {
        code += c
        i++
        continue
      }
      const end = sql.indexOf(tag, i + tag.length)
      const stop = end === -1 ? sql.length : end + tag.length
      yield* flush()
      yield { type: 'quoted', text: sql.slice(i, stop) }
      i = stop
    } else {
      code += c
      i++
    }
  }
  yield* flush()
}
