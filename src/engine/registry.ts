import { PgrigError } from '../errors.js'
import { embeddedPackageName } from './platform.js'
import { compareVersions, majorsOf } from './versions.js'

export interface PackumentVersion {
  version: string
  dist: { tarball: string; integrity?: string; shasum?: string }
}

export interface Packument {
  name: string
  versions: Record<string, PackumentVersion>
}

const PACKUMENT_TIMEOUT_MS = 15_000

export function registryUrl(): string {
  const configured = process.env.npm_config_registry || process.env.NPM_CONFIG_REGISTRY
  return (configured || 'https://registry.npmjs.org').replace(/\/+$/, '')
}

/** One line naming the underlying cause, e.g. `ECONNREFUSED` or `getaddrinfo ENOTFOUND host`. */
export function describeNetworkError(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return 'timed out'
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code
    return code && !cause.message.includes(code) ? `${code}: ${cause.message}` : cause.message
  }
  return String(cause)
}

const packuments = new Map<string, Promise<Packument>>()

/** Memoized per process: `doctor`, `install` and resolution all read the same list. */
export function fetchPackument(packageName: string = embeddedPackageName()): Promise<Packument> {
  const url = `${registryUrl()}/${packageName.replace('/', '%2f')}`
  let pending = packuments.get(url)
  if (!pending) {
    pending = download(url, packageName)
    // A failure (offline, say) must not stick for the rest of a long-lived process.
    pending.catch(() => packuments.delete(url))
    packuments.set(url, pending)
  }
  return pending
}

async function download(url: string, packageName: string): Promise<Packument> {
  let response: Response
  try {
    response = await fetch(url, {
      // The abbreviated document is a fraction of the full one and has all we need.
      headers: { accept: 'application/vnd.npm.install-v1+json' },
      signal: AbortSignal.timeout(PACKUMENT_TIMEOUT_MS),
    })
  } catch (error) {
    throw new PgrigError(
      'E_ENGINE_INSTALL',
      `cannot reach the npm registry at ${registryUrl()} to list ${packageName} versions (${describeNetworkError(error)}); check the network or set npm_config_registry to a reachable mirror, or use engine system`,
      { cause: error },
    )
  }
  if (!response.ok) {
    throw new PgrigError(
      'E_ENGINE_INSTALL',
      `the npm registry at ${registryUrl()} answered ${response.status} ${response.statusText} for ${packageName}; check npm_config_registry, or use engine system`,
    )
  }
  try {
    const packument = (await response.json()) as Packument
    if (typeof packument.versions !== 'object' || packument.versions === null) throw new Error('no versions')
    return packument
  } catch (error) {
    throw new PgrigError(
      'E_ENGINE_INSTALL',
      `the npm registry at ${registryUrl()} sent an unreadable package document for ${packageName} (${describeNetworkError(error)}); retry, or check npm_config_registry`,
      { cause: error },
    )
  }
}

/** Every published package version, newest first. */
export async function availableVersions(): Promise<string[]> {
  return Object.keys((await fetchPackument()).versions).sort((a, b) => compareVersions(b, a))
}

export async function availableMajors(): Promise<number[]> {
  return majorsOf(await availableVersions())
}
