import { createHmac, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { cacheDir } from '../engine/cache-dir.js'

/**
 * Options that passed the schema before, remembered by a keyed hash of their exact content, so a
 * new process given the same options (every `pgrig up`, every test run of a project) need not load
 * zod to check them again: loading it and building the schemas cost a first start ~65 ms of CPU,
 * about as much as the rest of the start. Only plain data is remembered (strings, finite numbers,
 * booleans, arrays, plain objects); the key covers the schema module's build too, so a changed
 * schema checks everything again. The memo is one file of this user's (mode 0600, else ignored)
 * with a random key of its own, so the hashes say nothing about passwords to anyone else.
 */
export type CheckedKind = 'config' | 'server'

const FILE = 'checked-options.json'
const KEEP = 200

interface Memo {
  salt: string
  keys: string[]
}

let memo: Memo | undefined

function memoFile(): string {
  return path.join(cacheDir(), FILE)
}

function isPlain(value: unknown): boolean {
  if (typeof value === 'string' || typeof value === 'boolean') return true
  if (typeof value === 'number') return Number.isFinite(value)
  if (Array.isArray(value)) return value.every(isPlain)
  if (typeof value !== 'object' || value === null) return false
  const proto = Object.getPrototypeOf(value)
  if (proto !== Object.prototype && proto !== null) return false
  return Object.values(value).every(isPlain)
}

/** The schema's build: a rebuilt (or upgraded) pgrig may check differently. */
function schemaStamp(): string {
  const stat = fs.statSync(fileURLToPath(new URL('./schema.js', import.meta.url)), { throwIfNoEntry: false })
  return stat ? `${stat.size}:${stat.mtimeMs}` : 'unknown'
}

function loadMemo(): Memo {
  if (memo) return memo
  const file = memoFile()
  try {
    const stat = fs.lstatSync(file)
    const mine = typeof process.getuid !== 'function' || stat.uid === process.getuid()
    if (stat.isFile() && mine && (stat.mode & 0o077) === 0) {
      const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as Partial<Memo>
      if (typeof parsed.salt === 'string' && Array.isArray(parsed.keys)) {
        memo = { salt: parsed.salt, keys: parsed.keys.filter((k) => typeof k === 'string') }
        return memo
      }
    }
  } catch {
    // none yet, or unreadable: start a new one
  }
  memo = { salt: randomBytes(16).toString('hex'), keys: [] }
  return memo
}

function keyOf(kind: CheckedKind, input: unknown): string | undefined {
  if (!isPlain(input)) return undefined
  try {
    return createHmac('sha256', loadMemo().salt)
      .update(`${kind}\0${schemaStamp()}\0${JSON.stringify(input)}`)
      .digest('hex')
      .slice(0, 32)
  } catch {
    return undefined
  }
}

/** A copy of `input` when exactly this content passed `kind`'s schema before, else `undefined`. */
export function checkedBefore<T>(kind: CheckedKind, input: unknown): T | undefined {
  const key = keyOf(kind, input)
  return key !== undefined && loadMemo().keys.includes(key) ? (structuredClone(input) as T) : undefined
}

/** Remembers that `input` passed `kind`'s schema (best effort: a cache that cannot be written is skipped). */
export function rememberChecked(kind: CheckedKind, input: unknown): void {
  const key = keyOf(kind, input)
  if (key === undefined) return
  const current = loadMemo()
  if (current.keys.includes(key)) return
  current.keys = [key, ...current.keys].slice(0, KEEP)
  const file = memoFile()
  const temp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}`
  try {
    // One level, never recursive: Node's recursive mkdir spins forever under /proc (PGRIG_CACHE_DIR=/proc/…).
    if (!fs.existsSync(path.dirname(file))) fs.mkdirSync(path.dirname(file), { mode: 0o755 })
    fs.writeFileSync(temp, JSON.stringify(current), { mode: 0o600, flag: 'wx' })
    fs.renameSync(temp, file)
  } catch {
    try {
      fs.rmSync(temp, { force: true })
    } catch {
      // the cache is a file, or not ours to read (ENOTDIR, EACCES): there is no temp file to remove
    }
  }
}
