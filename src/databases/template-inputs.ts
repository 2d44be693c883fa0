import { execFileSync } from 'node:child_process'
import type { createHash } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { PgrigError } from '../errors.js'

type Hash = ReturnType<typeof createHash>

/**
 * What a function or command migration reads when nobody names its inputs: the project's files,
 * as git sees them (tracked, and untracked but not ignored: reports and build output stay out).
 * Outside a git work tree, every file but dependencies, dot-folders and build output.
 */
const SKIPPED_FOLDERS = new Set(['node_modules', 'dist', 'build', 'coverage', 'out', 'target', '__pycache__'])
/** Past this size a file counts by its size and mtime instead of its bytes (a fixture dump, a video). */
const CONTENT_LIMIT = 1 << 20

function projectFiles(root: string): string[] {
  try {
    const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 256 << 20,
    })
    // Deleted but still in the index: gone from the tree, so not an input.
    return [...new Set(listed.split('\0').filter(Boolean))]
      .filter((file) => fs.statSync(path.join(root, file), { throwIfNoEntry: false })?.isFile())
      .sort()
  } catch {
    // Not a git work tree (or no git): walk it.
  }
  return walkedFiles(root)
}

function walkedFiles(root: string): string[] {
  const files: string[] = []
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (entry.name.startsWith('.')) continue
      const full = path.join(dir, entry.name)
      if (entry.isDirectory()) {
        if (!SKIPPED_FOLDERS.has(entry.name)) walk(full)
      } else if (entry.isFile()) {
        files.push(path.relative(root, full))
      }
    }
  }
  walk(root)
  return files.sort()
}

/** Files matched by `patterns` (paths, folders or globs, relative to `cwd`), sorted, relative to `cwd`. */
async function matchedFiles(
  patterns: string[],
  cwd: string,
): Promise<{ files: string[]; missing: string[] }> {
  const files = new Set<string>()
  const missing: string[] = []
  const globs: string[] = []
  for (const pattern of patterns) {
    if (typeof pattern !== 'string' || pattern.trim() === '') {
      throw new PgrigError(
        'E_CONFIG_INVALID',
        `templateInputs must be a list of paths or globs relative to the project (like 'src/db/**'), got ${JSON.stringify(pattern)}`,
      )
    }
    const full = path.resolve(cwd, pattern)
    const stat = fs.statSync(full, { throwIfNoEntry: false })
    if (stat?.isFile()) files.add(path.relative(cwd, full))
    else if (stat?.isDirectory())
      for (const f of walkedFiles(full)) files.add(path.relative(cwd, path.join(full, f)))
    else if (/[*?[\]{}]/.test(pattern)) globs.push(pattern)
    else missing.push(pattern)
  }
  if (globs.length) {
    // Loaded only for a glob: a run that names plain paths (or none) does not pay its import.
    const { glob } = await import('tinyglobby')
    for (const file of await glob(globs, { cwd, onlyFiles: true, dot: false }))
      files.add(path.normalize(file))
  }
  return { files: [...files].sort(), missing }
}

function hashFiles(hash: Hash, files: string[], cwd: string): void {
  for (const file of files) {
    const full = path.join(cwd, file)
    const stat = fs.statSync(full)
    hash.update(`file:${file.split(path.sep).join('/')}\n`)
    if (stat.size > CONTENT_LIMIT) hash.update(`size:${stat.size} mtime:${stat.mtimeMs}\n`)
    else hash.update(fs.readFileSync(full)).update('\n')
  }
}

/**
 * Hashes the inputs of a function or command migration into the template key: the files the user
 * named (`templateInputs`, a command's `inputs`), else every file of the project. Says what it
 * covered, for the line that names the key.
 */
export async function hashTemplateInputs(
  hash: Hash,
  named: string[] | undefined,
  cwd: string,
): Promise<string> {
  if (named === undefined) {
    const files = projectFiles(cwd)
    hashFiles(hash, files, cwd)
    return `${files.length} project files (name the ones it reads in templateInputs to narrow it)`
  }
  const { files, missing } = await matchedFiles(named, cwd)
  for (const pattern of missing) hash.update(`missing:${pattern}\n`)
  hashFiles(hash, files, cwd)
  return `${files.length} file${files.length === 1 ? '' : 's'} of ${named.map((p) => `'${p}'`).join(', ')}`
}
