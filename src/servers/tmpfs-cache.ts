import fs from 'node:fs'
import path from 'node:path'
import { spareCount, STALE_COPY_MS } from './spare-datadirs.js'

/**
 * The data dir templates (and their spare copies) pgrig keeps on tmpfs: one per engine and shape,
 * so they pile up as options vary. Pruned least recently used first, past an age and past a size
 * cap; `pgrig cache prune` applies the same rules now, `pgrig cache clean` removes them all.
 *   - PGRIG_TMPFS_CACHE_MB: size cap of the templates and spares together (default 1024);
 *   - PGRIG_TMPFS_CACHE_DAYS: templates unused this long go (default 7);
 *   - PGRIG_TMPFS_CACHE_PROTECT_S: a template used this recently is never pruned (default 300): a
 *     start may be copying it.
 * The prune runs before a template is added and counts each template at its full size with its
 * spares (they are refilled after it is pruned) and each copy still in flight, so use stays under
 * the cap plus that one template with its spares (and the recently used ones it may not remove).
 */
export interface CacheEntry {
  name: string
  /** Template and spares together. */
  bytes: number
  /** The template alone. */
  templateBytes: number
  /** When a start last used the template (its folder's mtime, touched on every use). */
  lastUsed: number
}

export interface CacheLimits {
  maxBytes: number
  maxAgeMs: number
  /** Entries used more recently than this are kept whatever the cap says. */
  protectMs: number
}

const MB = 1024 * 1024
const DAY_MS = 24 * 60 * 60_000

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name]
  const value = raw === undefined || raw === '' ? NaN : Number(raw)
  return Number.isFinite(value) && value >= 0 ? value : fallback
}

export function cacheLimits(): CacheLimits {
  return {
    maxBytes: envNumber('PGRIG_TMPFS_CACHE_MB', 1024) * MB,
    maxAgeMs: envNumber('PGRIG_TMPFS_CACHE_DAYS', 7) * DAY_MS,
    protectMs: envNumber('PGRIG_TMPFS_CACHE_PROTECT_S', 300) * 1000,
  }
}

export function templatesDir(tmpfsRoot: string): string {
  return path.join(tmpfsRoot, 'templates')
}

function sizeOf(target: string): number {
  let stat: fs.Stats
  try {
    stat = fs.lstatSync(target)
  } catch {
    return 0
  }
  if (!stat.isDirectory()) return stat.size
  let total = 0
  let names: string[] = []
  try {
    names = fs.readdirSync(target)
  } catch {
    return 0
  }
  for (const name of names) total += sizeOf(path.join(target, name))
  return total
}

/** Marks a template as just used (LRU order). */
export function touchTemplate(dir: string): void {
  const now = new Date()
  try {
    fs.utimesSync(dir, now, now)
  } catch {
    // not ours to touch (another user's cache): its age stays as it is
  }
}

/** What the templates folder of this tmpfs holds; nothing when it does not exist. */
function templatesFolder(tmpfsRoot: string): string[] {
  try {
    return fs.readdirSync(templatesDir(tmpfsRoot))
  } catch {
    return []
  }
}

/** The templates on this tmpfs, least recently used first. */
export function cacheEntries(tmpfsRoot: string): CacheEntry[] {
  const dir = templatesDir(tmpfsRoot)
  return templatesFolder(tmpfsRoot)
    .filter((name) => !name.startsWith('.') && !name.endsWith('.spares') && !name.includes('.tmp-'))
    .map((name) => {
      const full = path.join(dir, name)
      const templateBytes = sizeOf(full)
      return {
        name,
        bytes: templateBytes + sizeOf(`${full}.spares`),
        templateBytes,
        lastUsed: fs.statSync(full, { throwIfNoEntry: false })?.mtimeMs ?? 0,
      }
    })
    .sort((a, b) => a.lastUsed - b.lastUsed)
}

// maxRetries: a copy still writing into a folder being removed makes rm fail with ENOTEMPTY.
const removeTree = (dir: string) => fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5 })

function removeEntry(tmpfsRoot: string, name: string): void {
  const full = path.join(templatesDir(tmpfsRoot), name)
  // The spares first: a template without spares is still whole, spares without one are litter.
  removeTree(`${full}.spares`)
  removeTree(full)
}

/** Template copies (`<name>.tmp-…`) and builds (`.build-…`) not yet in place. */
function copiesInFlight(tmpfsRoot: string): string[] {
  return templatesFolder(tmpfsRoot).filter((n) => n.startsWith('.build-') || n.includes('.tmp-'))
}

/**
 * What no entry counts, so no cap would ever remove: spares whose template is gone, and the
 * unfinished copies (`….tmp-…`) and template builds (`.build-…`) of processes killed in the middle,
 * once older than any copy or build still running could be.
 */
export function sweepLeftovers(tmpfsRoot: string, now = Date.now()): string[] {
  const dir = templatesDir(tmpfsRoot)
  const names = templatesFolder(tmpfsRoot)
  const swept = names.filter((name) => {
    const full = path.join(dir, name)
    if (name.endsWith('.spares')) return !names.includes(name.slice(0, -'.spares'.length))
    if (!name.startsWith('.build-') && !name.includes('.tmp-')) return false
    const mtime = fs.statSync(full, { throwIfNoEntry: false })?.mtimeMs ?? now
    return now - mtime > STALE_COPY_MS
  })
  for (const name of swept) removeTree(path.join(dir, name))
  return swept
}

/**
 * Removes templates older than the age limit, then the least recently used until the rest fit
 * under the cap. `keep` (the template a start is using) and recently used ones stay.
 * Returns what was removed and what is left.
 */
export function pruneCache(
  tmpfsRoot: string,
  options: { keep?: string; limits?: CacheLimits; now?: number } = {},
): { removed: CacheEntry[]; kept: CacheEntry[] } {
  const limits = options.limits ?? cacheLimits()
  const now = options.now ?? Date.now()
  sweepLeftovers(tmpfsRoot, now)
  const entries = cacheEntries(tmpfsRoot)
  // What each will hold once its spares are refilled; a template copy in flight (another start's,
  // or an earlier one's from the disk cache) lands as big as the largest.
  const fullSize = (e: CacheEntry) => Math.max(e.bytes, e.templateBytes * (1 + spareCount()))
  const inFlight = copiesInFlight(tmpfsRoot).filter((name) => !name.startsWith(`${options.keep}.tmp-`))
  const largest = Math.max(0, ...entries.map(fullSize))
  let total = entries.reduce((sum, e) => sum + fullSize(e), 0) + inFlight.length * largest
  const removed: CacheEntry[] = []
  const kept: CacheEntry[] = []
  for (const entry of entries) {
    const protectedNow = entry.name === options.keep || now - entry.lastUsed < limits.protectMs
    const stale = now - entry.lastUsed > limits.maxAgeMs
    if (!protectedNow && (stale || total > limits.maxBytes)) {
      removeEntry(tmpfsRoot, entry.name)
      total -= fullSize(entry)
      removed.push(entry)
    } else {
      kept.push(entry)
    }
  }
  return { removed, kept }
}

/** Removes every template and spare on this tmpfs (`pgrig cache clean`), and the leftovers prune sweeps. */
export function cleanCache(tmpfsRoot: string): CacheEntry[] {
  const entries = cacheEntries(tmpfsRoot)
  for (const entry of entries) removeEntry(tmpfsRoot, entry.name)
  sweepLeftovers(tmpfsRoot)
  return entries
}

export const formatMb = (bytes: number): string => `${(bytes / MB).toFixed(0)} MB`
