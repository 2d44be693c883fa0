import { existsSync, lstatSync } from 'node:fs'
import { chmod, lstat, mkdtemp, readFile, readdir, rename, rm, symlink } from 'node:fs/promises'
import { basename, dirname, join, relative, resolve, sep } from 'node:path'

/**
 * Layout shared by the npm package and every cached engine: `<root>/package.json` and
 * `<root>/native/{bin,lib,share}`.
 */
export function binDirOf(packageRoot: string): string {
  return join(packageRoot, 'native', 'bin')
}

export function packageRootOf(binDir: string): string {
  return resolve(binDir, '..', '..')
}

export function executable(name: string): string {
  return process.platform === 'win32' ? `${name}.exe` : name
}

export function hasServerBinaries(binDir: string): boolean {
  return existsSync(join(binDir, executable('postgres'))) && existsSync(join(binDir, executable('initdb')))
}

export async function readPackageVersion(packageRoot: string): Promise<string | undefined> {
  try {
    const json = JSON.parse(await readFile(join(packageRoot, 'package.json'), 'utf8')) as {
      version?: unknown
    }
    return typeof json.version === 'string' ? json.version : undefined
  } catch {
    return undefined
  }
}

interface SymlinkEntry {
  source: string
  target: string
}

/**
 * npm tarballs cannot carry symlinks, so the package lists its library aliases in
 * pg-symlinks.json for a postinstall script to create; npm 11 skips that script, which leaves
 * `postgres` unable to load e.g. libicuuc.so.60. Safe to call repeatedly and concurrently.
 * Returns how many links it created.
 */
export async function restoreSymlinks(packageRoot: string): Promise<number> {
  let entries: SymlinkEntry[]
  try {
    entries = JSON.parse(
      await readFile(join(packageRoot, 'native', 'pg-symlinks.json'), 'utf8'),
    ) as SymlinkEntry[]
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0
    throw error
  }
  const root = resolve(packageRoot)
  let created = 0
  for (const { source, target } of entries) {
    const from = resolve(root, source)
    const at = resolve(root, target)
    if (!at.startsWith(root + sep) || !from.startsWith(root + sep)) continue
    // Nearly always there already (every start looks): a look costs no error and no thread-pool trip.
    if (lstatSync(at, { throwIfNoEntry: false })) continue
    try {
      // Relative, so the tree still works after being copied or renamed.
      await symlink(relative(dirname(at), from), at)
      created++
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
  }
  return created
}

/** chmod -R a+rX: the unprivileged postgres user must read libraries and share files. */
export async function makeWorldReadable(path: string): Promise<void> {
  const stat = await lstat(path)
  if (stat.isSymbolicLink()) return
  const mode = stat.mode & 0o7777
  const wanted = mode | 0o444 | (stat.isDirectory() || mode & 0o111 ? 0o111 : 0)
  if (wanted !== mode) await chmod(path, wanted)
  if (stat.isDirectory()) {
    for (const name of await readdir(path)) await makeWorldReadable(join(path, name))
  }
}

/**
 * Builds a tree in a private temp folder next to `finalDir`, then renames it into place, so
 * readers never see half a tree and concurrent builders of the same folder cannot mix files:
 * whoever renames first wins and the others discard their copy.
 */
export async function placeAtomically(
  finalDir: string,
  build: (stagingDir: string) => Promise<void>,
): Promise<void> {
  const temp = await mkdtemp(join(dirname(finalDir), `.staging-${basename(finalDir)}-`))
  try {
    const staging = join(temp, 'tree')
    await build(staging)
    try {
      await rename(staging, finalDir)
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code
      const lostRace = code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'EPERM'
      if (!lostRace || !hasServerBinaries(binDirOf(finalDir))) throw error
    }
  } finally {
    await rm(temp, { recursive: true, force: true })
  }
}

/** Staging folders a killed process left behind; a day is far longer than any install takes. */
export async function removeStaleStaging(parent: string, olderThanMs = 86_400_000): Promise<void> {
  let names: string[]
  try {
    names = await readdir(parent)
  } catch {
    return
  }
  for (const name of names.filter((n) => n.startsWith('.staging-'))) {
    const path = join(parent, name)
    try {
      if (Date.now() - (await lstat(path)).mtimeMs > olderThanMs)
        await rm(path, { recursive: true, force: true })
    } catch {
      // Another process may be removing it too.
    }
  }
}
