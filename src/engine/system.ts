import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, realpathSync } from 'node:fs'
import { delimiter, join } from 'node:path'
import { PgrigError } from '../errors.js'
import { executable, hasServerBinaries } from './package-files.js'
import type { Engine } from './types.js'
import { parseVersionRequest, serverVersionOf } from './versions.js'

/** `postgres (PostgreSQL) 15.18 (Debian 15.18-1.pgdg120+1)` → 15.18; also `18beta1`, `9.6.24`. */
export function parsePostgresVersion(output: string): { version: string; major: number } | undefined {
  const m = /\(PostgreSQL\)\s+((\d+)[^\s]*)/.exec(output)
  return m ? { version: m[1]!, major: Number(m[2]) } : undefined
}

function numbersOf(version: string): number[] {
  return (version.match(/\d+/g) ?? []).map(Number)
}

function compareServerVersions(a: string, b: string): number {
  const x = numbersOf(a)
  const y = numbersOf(b)
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? -1) - (y[i] ?? -1)
    if (d !== 0) return d
  }
  return 0
}

function serverVersion(binDir: string): { version: string; major: number } | undefined {
  try {
    const output = execFileSync(join(binDir, executable('postgres')), ['--version'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10_000,
    })
    return parsePostgresVersion(output)
  } catch {
    return undefined
  }
}

function subdirs(parent: string, pattern: RegExp): { dir: string; major: number }[] {
  try {
    return readdirSync(parent)
      .map((name) => ({ name, m: pattern.exec(name) }))
      .filter((entry) => entry.m)
      .map(({ name, m }) => ({ dir: join(parent, name), major: Number(m![1]) }))
  } catch {
    return []
  }
}

/**
 * Where distributions put versioned servers, which need not be on PATH: Debian/Ubuntu
 * (/usr/lib/postgresql/N/bin), RHEL/PGDG (/usr/pgsql-N/bin), Homebrew (postgresql@N) and
 * Postgres.app (/Applications/Postgres.app/Contents/Versions/N/bin).
 */
function versionedLayouts(): { binDir: string; major: number }[] {
  return [
    ...subdirs('/usr/lib/postgresql', /^(\d+)$/).map(({ dir, major }) => ({
      binDir: join(dir, 'bin'),
      major,
    })),
    ...subdirs('/usr', /^pgsql-(\d+)$/).map(({ dir, major }) => ({ binDir: join(dir, 'bin'), major })),
    ...['/opt/homebrew/opt', '/usr/local/opt'].flatMap((parent) =>
      subdirs(parent, /^postgresql@(\d+)$/).map(({ dir, major }) => ({ binDir: join(dir, 'bin'), major })),
    ),
    ...subdirs('/Applications/Postgres.app/Contents/Versions', /^(\d+)$/).map(({ dir, major }) => ({
      binDir: join(dir, 'bin'),
      major,
    })),
  ].sort((a, b) => b.major - a.major)
}

function pgConfigBinDir(): string | undefined {
  try {
    return execFileSync('pg_config', ['--bindir'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim()
  } catch {
    return undefined
  }
}

function pathDirsWith(name: string): string[] {
  return (process.env.PATH ?? '')
    .split(delimiter)
    .filter((dir) => dir && existsSync(join(dir, executable(name))))
}

/** Candidate folders in the order the spec prefers: versioned layouts, pg_config, then PATH. */
function candidateDirs(major?: number): string[] {
  const layouts = versionedLayouts().filter((layout) => major === undefined || layout.major === major)
  const dirs = [...layouts.map((layout) => layout.binDir), pgConfigBinDir(), ...pathDirsWith('postgres')]
  const seen = new Set<string>()
  return dirs.filter((dir): dir is string => {
    if (!dir || !hasServerBinaries(dir)) return false
    // Dedupe by the binary, not the folder: /usr/local/bin/postgres is often a link into a
    // versioned folder.
    let real: string
    try {
      real = realpathSync(join(dir, executable('postgres')))
    } catch {
      return false
    }
    if (seen.has(real)) return false
    seen.add(real)
    return true
  })
}

function systemEngine(binDir: string): Engine | undefined {
  const found = serverVersion(binDir)
  return found && { kind: 'system', version: found.version, major: found.major, binDir }
}

/** Every server installed on this machine, newest first (for `doctor`). */
export function findSystemEngines(): Engine[] {
  return candidateDirs()
    .map(systemEngine)
    .filter((engine): engine is Engine => engine !== undefined)
    .sort((a, b) => compareServerVersions(b.version, a.version))
}

function installHint(major: number | undefined): string {
  const suffix = major === undefined ? '' : `-${major}`
  if (process.platform === 'darwin') return `brew install postgresql${major === undefined ? '' : `@${major}`}`
  return `apt-get install postgresql${suffix}`
}

/** Server binaries already on this machine for `version` (a major, a minor, or undefined for the newest). */
export function findSystemEngine(version: string | undefined): Engine {
  const request = parseVersionRequest(version)
  // The system reports server versions (17.6); a full package version means its server version.
  const wanted =
    request.kind === 'exact'
      ? numbersOf(serverVersionOf(request.version).version)
      : request.kind === 'prefix'
        ? request.parts.slice(0, 2)
        : []
  const major = wanted[0]
  const found: Engine[] = []
  for (const binDir of candidateDirs(major)) {
    const engine = systemEngine(binDir)
    if (!engine) continue
    found.push(engine)
    const numbers = numbersOf(engine.version)
    if (major !== undefined && wanted.every((n, i) => numbers[i] === n)) return engine
  }
  if (major === undefined && found.length > 0) {
    return found.sort((a, b) => compareServerVersions(b.version, a.version))[0]!
  }
  const seen = [...new Set(findSystemEngines().map((engine) => engine.version))]
  const looked = `looked in the distribution's versioned folders, pg_config --bindir and PATH${seen.length ? `; found ${seen.join(', ')}` : ''}`
  throw new PgrigError(
    'E_ENGINE_NOT_FOUND',
    major === undefined
      ? `no PostgreSQL server is installed on this system (${looked}); install one (${installHint(major)}) or use engine embedded`
      : `PostgreSQL ${wanted.join('.')} is not installed on this system (${looked}); install it (${installHint(major)}) or use engine embedded`,
  )
}

/** A psql to talk to servers with: PATH first, then the newest versioned Debian install. */
export function findPsql(): string | undefined {
  const onPath = pathDirsWith('psql')[0]
  if (onPath) return join(onPath, executable('psql'))
  for (const { binDir } of versionedLayouts()) {
    const psql = join(binDir, executable('psql'))
    if (existsSync(psql)) return psql
  }
  return undefined
}
