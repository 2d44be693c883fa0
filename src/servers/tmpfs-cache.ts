import fs from 'node:fs'
import path from 'node:path'

/**
 * The data dir templates (and their spare copies) pgrig keeps on tmpfs: one per engine and shape,
 * so they pile up as options vary. Pruned least recently used first, past an age and past a size
 * cap; `pgrig cache prune` applies the same rules now, `pgrig cache clean` removes them all.
 *   - PGRIG_TMPFS_CACHE_MB: size cap of the templates and spares together (default 1024);
 *   - PGRIG_TMPFS_CACHE_DAYS: templates unused this long go (default 7);
 *   - PGRIG_TMPFS_CACHE_PROTECT_S: a template used this recently is never pruned (default 300): a
 *     start may be copying it.
 * The prune runs before a template is added, so use stays under the cap plus that one template.
 */
export interface CacheEntry {
  name: string
  /** Template and spares together. */
  bytes: number
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

/** The templates on this tmpfs, least recently used first. */
export function cacheEntries(tmpfsRoot: string): CacheEntry[] {
  const dir = templatesDir(tmpfsRoot)
  let names: string[]
  try {
    names = fs.readdirSync(dir)
  } catch {
    return []
  }
  return names
    .filter((name) => !name.startsWith('.') && !name.endsWith('.spares') && !name.includes('.tmp-'))
    .map((name) => {
      const full = path.join(dir, name)
      return {
        name,
        bytes: sizeOf(full) + sizeOf(`${full}.spares`),
        lastUsed: fs.statSync(full, { throwIfNoEntry: false })?.mtimeMs ?? 0,
      }
    })
    .sort((a, b) => a.lastUsed - b.lastUsed)
}

function removeEntry(tmpfsRoot: string, name: string): void {
  const full = path.join(templatesDir(tmpfsRoot), name)
  // The spares first: a template without spares is still whole, spares without one are litter.
  fs.rmSync(`${full}.spares`, { recursive: true, force: true })
  fs.rmSync(full, { recursive: true, force: true })
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
  const entries = cacheEntries(tmpfsRoot)
  let total = entries.reduce((sum, e) => sum + e.bytes, 0)
  const removed: CacheEntry[] = []
  const kept: CacheEntry[] = []
  for (const entry of entries) {
    const protectedNow = entry.name === options.keep || now - entry.lastUsed < limits.protectMs
    const stale = now - entry.lastUsed > limits.maxAgeMs
    if (!protectedNow && (stale || total > limits.maxBytes)) {
      removeEntry(tmpfsRoot, entry.name)
      total -= entry.bytes
      removed.push(entry)
    } else {
      kept.push(entry)
    }
  }
  return { removed, kept }
}

/** Removes every template and spare on this tmpfs (`pgrig cache clean`). */
export function cleanCache(tmpfsRoot: string): CacheEntry[] {
  const entries = cacheEntries(tmpfsRoot)
  for (const entry of entries) removeEntry(tmpfsRoot, entry.name)
  // Spares whose template is already gone.
  let left: string[] = []
  try {
    left = fs.readdirSync(templatesDir(tmpfsRoot))
  } catch {
    // no templates folder yet
  }
  for (const name of left) {
    if (name.endsWith('.spares')) {
      fs.rmSync(path.join(templatesDir(tmpfsRoot), name), { recursive: true, force: true })
    }
  }
  return entries
}

export const formatMb = (bytes: number): string => `${(bytes / MB).toFixed(0)} MB`
