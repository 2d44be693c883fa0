import { listRuns } from '../servers/run-dir.js'
import { redactUrl } from '../servers/server-info.js'
import { parseLibpqUrl } from '../servers/libpq-url.js'

/** The shortest piece of a password that is hidden on its own (a truncated assertion still shows 22 of 24). */
export const MIN_FRAGMENT = 6

const HIDDEN = '***'
const STOP = String.raw`\s'"\x60<>`
// scheme://user:password@ — the password part of a URL's userinfo, however it is spelt.
const URL_USERINFO = new RegExp(String.raw`\b([a-z][a-z0-9+.-]*://[^${STOP}:/@\[\]]*):([^${STOP}@]*)@`, 'gi')
// scheme://user:password… with no @ left: a URL cut short (Vitest truncates long strings). A port is not a password.
const URL_CUT_SHORT = new RegExp(
  String.raw`\b([a-z][a-z0-9+.-]*://[^${STOP}:/@\[\]]+):(?![0-9]*(?:[/?#,;)\]${STOP}]|$))[^${STOP}@/]+`,
  'gi',
)
// password: '…', "password":"…", password = "…" (a serialized pg error or client config).
const QUOTED_PASSWORD = /(password\b["']?\s*[:=]\s*)(["'`])((?:\\.|(?!\2)[^\\])*)\2/gi
// password=… as in libpq conninfo strings and environment dumps (PGPASSWORD=…).
const BARE_PASSWORD = /(password=)(?!["'`])[^\s&'"`]+/gi

function passwordOfUrl(value: string): string | undefined {
  try {
    return decodeURIComponent(parseLibpqUrl(value).password) || undefined
  } catch {
    return undefined
  }
}

/** Passwords of the servers of this user's pgrig runs (their state files are private to the user). */
function runPasswords(): string[] {
  try {
    return listRuns().flatMap((run) =>
      run.servers.flatMap((server) => [server.password, server.superuser?.password]),
    )
  } catch {
    return []
  }
}

/** Passwords the run knows about: libpq's and pgrig's variables, URLs, and the servers of this user's pgrig runs. */
export function knownPasswords(env: NodeJS.ProcessEnv = process.env): string[] {
  const found = new Set<string>()
  for (const [key, value] of Object.entries(env)) {
    if (!value) continue
    if (key === 'PGPASSWORD' || (key.startsWith('PGRIG_') && key.endsWith('_PASSWORD'))) found.add(value)
    if (key === 'DATABASE_URL' || (key.startsWith('PGRIG_') && key.endsWith('_URL'))) {
      const password = passwordOfUrl(value)
      if (password) found.add(password)
    }
  }
  for (const password of runPasswords()) if (password) found.add(password)
  for (const password of [...found]) found.add(encodeURIComponent(password))
  // Very short values would blank out ordinary words; pgrig's generated passwords are long.
  return [...found].filter((p) => p.length >= MIN_FRAGMENT).sort((a, b) => b.length - a.length)
}

/** Replaces every run of MIN_FRAGMENT or more characters that is a piece of one of the passwords. */
function hideFragments(text: string, passwords: string[], mark: (hidden: string) => string): string {
  if (passwords.length === 0 || text.length < MIN_FRAGMENT) return text
  const starts = new Set<string>()
  for (const p of passwords)
    for (let i = 0; i + MIN_FRAGMENT <= p.length; i++) starts.add(p.slice(i, i + MIN_FRAGMENT))
  let out = ''
  let copied = 0
  for (let i = 0; i + MIN_FRAGMENT <= text.length;) {
    if (!starts.has(text.slice(i, i + MIN_FRAGMENT))) {
      i++
      continue
    }
    let end = i + MIN_FRAGMENT
    while (end < text.length && passwords.some((p) => p.includes(text.slice(i, end + 1)))) end++
    out += text.slice(copied, i) + mark(text.slice(i, end))
    copied = i = end
  }
  return out + text.slice(copied)
}

export interface RedactorOptions {
  /**
   * Each distinct hidden value gets a mark of its own (`***`, then `***(2)`, `***(3)`, …), the same
   * wherever it recurs in the texts this redactor sees: a failing diff of two URLs with different
   * passwords still shows which side differs, and neither password.
   */
  distinct?: boolean
}

/**
 * Returns a function that hides every URL password, every `password: '…'` value and every piece of
 * MIN_FRAGMENT or more characters of a known password in a piece of text.
 */
export function createRedactor(
  passwords: string[] = knownPasswords(),
  options: RedactorOptions = {},
): (text: string) => string {
  const marks = new Map<string, string>()
  const mark = (hidden: string): string => {
    // A later pattern meets what an earlier one hid (`user:***@` looks like a URL cut short): it stays.
    if (!options.distinct || /^\*\*\*(\(\d+\))?$/.test(hidden)) return options.distinct ? hidden : HIDDEN
    let found = marks.get(hidden)
    if (!found) marks.set(hidden, (found = marks.size === 0 ? HIDDEN : `${HIDDEN}(${marks.size + 1})`))
    return found
  }
  return (text) => {
    const out = text
      .replace(URL_USERINFO, (_match, head: string, hidden: string) => `${head}:${mark(hidden)}@`)
      .replace(
        URL_CUT_SHORT,
        (match: string, head: string) => `${head}:${mark(match.slice(head.length + 1))}`,
      )
      .replace(
        QUOTED_PASSWORD,
        (_match, head: string, quote: string, hidden: string) => `${head}${quote}${mark(hidden)}${quote}`,
      )
      .replace(BARE_PASSWORD, (match: string, head: string) => `${head}${mark(match.slice(head.length))}`)
    return hideFragments(out, passwords, mark)
  }
}

export { redactUrl }

const ERROR_TEXT_FIELDS = ['message', 'stack', 'diff', 'expected', 'actual', 'stackStr', 'name'] as const

/**
 * Hides passwords in an error object as Vitest serializes it, in place (its cause too), so every
 * reporter sees it hidden. One distinct redactor serves the whole error: its message, diff and
 * expected / actual keep which side differs.
 */
export function redactErrorInPlace(error: unknown, passwords: string[]): void {
  hideInError(error, createRedactor(passwords, { distinct: true }), 0)
}

function hideInError(error: unknown, redact: (text: string) => string, depth: number): void {
  if (!error || typeof error !== 'object' || depth > 5) return
  const fields = error as Record<string, unknown>
  for (const field of ERROR_TEXT_FIELDS) {
    if (typeof fields[field] === 'string') fields[field] = redact(fields[field] as string)
  }
  hideInError(fields.cause, redact, depth + 1)
}

/** A copy of a JSON-like value with every string redacted. */
export function redactDeep<T>(value: T, redact: (text: string) => string): T {
  if (typeof value === 'string') return redact(value) as T
  if (Array.isArray(value)) return value.map((v: unknown) => redactDeep(v, redact)) as T
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {}
    for (const [key, v] of Object.entries(value)) out[key] = redactDeep(v, redact)
    return out as T
  }
  return value
}
