import { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import type { RunAs } from './os-user.js'

/**
 * A data dir template is marked complete by this file, written last (before the folder is renamed
 * into place): hashes of the files every start reads first (`global/pg_control`, each database's
 * `pg_class`, `base/<db>/1259`) and one hash of all its files. A template without it, or whose
 * first files differ, is damaged: rebuilt, never copied into a server. The quick check reads about
 * half a megabyte (under a millisecond, once per template per process); `pgrig doctor` runs the
 * full one.
 */
export const TEMPLATE_MARK = 'pgrig-template.json'

interface TemplateMark {
  format: 1
  /** Hex SHA-1 of each file the quick check reads, by path inside the data dir. */
  first: Record<string, string>
  /** Hex SHA-1 over every file's path and content, in path order (the mark itself left out). */
  all: string
}

const hashOf = (data: Buffer) => createHash('sha1').update(data).digest('hex')

/** The files a start reads first: where a damaged copy shows ("incompatible with server", "invalid page"). */
function firstFiles(dataDir: string): string[] {
  let databases: string[] = []
  try {
    databases = fs.readdirSync(path.join(dataDir, 'base')).sort()
  } catch {
    // no base/: the check below reports it
  }
  return ['global/pg_control', ...databases.map((db) => `base/${db}/1259`)]
}

function allFilesHash(dataDir: string): string {
  const hash = createHash('sha1')
  const walk = (rel: string) => {
    const entries = fs.readdirSync(path.join(dataDir, rel), { withFileTypes: true })
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const child = rel ? `${rel}/${entry.name}` : entry.name
      if (child === TEMPLATE_MARK) continue
      if (entry.isDirectory()) walk(child)
      else if (entry.isFile()) hash.update(`${child}\0`).update(fs.readFileSync(path.join(dataDir, child)))
    }
  }
  walk('')
  return hash.digest('hex')
}

/** Whether the template carries a mark at all (one without was made by an older pgrig, or never finished). */
export function isMarked(dataDir: string): boolean {
  return fs.existsSync(path.join(dataDir, TEMPLATE_MARK))
}

/** Writes the mark into a finished template (its last write before it is renamed into place). */
export function markTemplate(dataDir: string, runAs: RunAs | undefined): void {
  const first: Record<string, string> = {}
  for (const rel of firstFiles(dataDir)) first[rel] = hashOf(fs.readFileSync(path.join(dataDir, rel)))
  const mark: TemplateMark = { format: 1, first, all: allFilesHash(dataDir) }
  const file = path.join(dataDir, TEMPLATE_MARK)
  fs.writeFileSync(file, JSON.stringify(mark), { mode: 0o644 })
  if (runAs) fs.chownSync(file, runAs.uid, runAs.gid)
}

function readMark(dataDir: string): TemplateMark | string {
  let text: string
  try {
    text = fs.readFileSync(path.join(dataDir, TEMPLATE_MARK), 'utf8')
  } catch {
    return `it has no ${TEMPLATE_MARK} (never finished, or made by an older pgrig)`
  }
  try {
    const mark = JSON.parse(text) as TemplateMark
    if (mark.format === 1 && typeof mark.all === 'string' && mark.first && typeof mark.first === 'object')
      return mark
  } catch {
    // reported below
  }
  return `its ${TEMPLATE_MARK} is unreadable`
}

/**
 * Why the template at `dataDir` must not be used, or `undefined` when it is whole. `deep` hashes
 * every file (doctor); otherwise only the first files a start reads.
 */
export function templateDamage(dataDir: string, deep = false): string | undefined {
  const mark = readMark(dataDir)
  if (typeof mark === 'string') return mark
  const now = firstFiles(dataDir)
  const marked = Object.keys(mark.first)
  for (const rel of new Set([...marked, ...now])) {
    let data: Buffer
    try {
      data = fs.readFileSync(path.join(dataDir, rel))
    } catch {
      return `${rel} is missing`
    }
    if (mark.first[rel] === undefined) return `${rel} was not there when it was built`
    if (hashOf(data) !== mark.first[rel]) return `${rel} differs from when it was built`
  }
  if (deep && allFilesHash(dataDir) !== mark.all) return 'its files differ from when it was built'
  return undefined
}

const whole = new Set<string>()

/**
 * The quick check, once per template folder per process (a template is never written after it is
 * marked); a damaged one is removed with its spares so the caller builds or copies a fresh one.
 * Returns whether the template can be used.
 */
export function usableTemplate(dataDir: string): boolean {
  if (whole.has(dataDir)) return true
  if (templateDamage(dataDir) === undefined) {
    whole.add(dataDir)
    return true
  }
  // Renamed aside first, so no other start copies it while it is removed.
  const aside = `${path.dirname(dataDir)}/.damaged-${path.basename(dataDir)}-${process.pid}`
  try {
    fs.renameSync(dataDir, aside)
  } catch {
    return false
  }
  fs.rmSync(`${dataDir}.spares`, { recursive: true, force: true, maxRetries: 5 })
  fs.rmSync(aside, { recursive: true, force: true, maxRetries: 5 })
  return false
}
