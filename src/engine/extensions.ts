/**
 * `CREATE EXTENSION x` on a server that lacks x's files: which extension, and how to get it. The
 * embedded engines ship contrib only; PostGIS, pgvector and the like come from the OS's packages,
 * which the system engine (`engine: 'system'`) runs with.
 */

/** The server the extension was asked of, as far as the caller knows it. */
export interface ExtensionServer {
  engine: 'embedded' | 'system' | 'external'
  /** Server version, e.g. `18.1`; its major names the OS packages. */
  version: string
}

/**
 * The extension a server error says is missing: PostgreSQL 16+ says `extension "x" is not
 * available`, earlier majors `could not open extension control file ".../x.control"`.
 */
export function missingExtension(message: string): string | undefined {
  return (
    /extension "([^"]+)" is not available/.exec(message)?.[1] ??
    /could not open extension control file "[^"]*?([^/"\\]+)\.control"/.exec(message)?.[1]
  )
}

/** Debian/Ubuntu (apt.postgresql.org) package stems where they differ from the extension's name. */
const DEBIAN_PACKAGES: Record<string, string> = {
  vector: 'pgvector',
  postgis: 'postgis-3',
  postgis_raster: 'postgis-3',
  postgis_topology: 'postgis-3',
  postgis_tiger_geocoder: 'postgis-3',
  address_standardizer: 'postgis-3',
  pg_cron: 'cron',
  pg_partman: 'partman',
  pg_repack: 'repack',
  pgrouting: 'pgrouting',
  h3: 'h3',
}

const BREW_FORMULAS: Record<string, string> = {
  vector: 'pgvector',
  postgis_raster: 'postgis',
  postgis_topology: 'postgis',
  postgis_tiger_geocoder: 'postgis',
  address_standardizer: 'postgis',
}

function majorOf(version: string): number | undefined {
  const major = Number(/^\d+/.exec(version)?.[0])
  return Number.isInteger(major) ? major : undefined
}

/** `postgresql-17-pgvector`, the package that puts the extension into a Debian/Ubuntu PostgreSQL 17. */
export function debianPackage(extension: string, major: number | string): string {
  const stem = DEBIAN_PACKAGES[extension] ?? extension.replace(/_/g, '-')
  return `postgresql-${major}-${stem}`
}

export function brewFormula(extension: string): string {
  return BREW_FORMULAS[extension] ?? extension.replace(/_/g, '-')
}

/**
 * One line: the extension, the engine in use, and the way to get it (the OS package, Homebrew's
 * formula, and running on the system engine where the package puts it).
 */
export function missingExtensionHint(extension: string, server: ExtensionServer | undefined): string {
  const major = server && majorOf(server.version)
  const n = major ?? 'N'
  const where = server
    ? `PostgreSQL ${server.version} (engine ${server.engine}${server.engine === 'embedded' ? ', which ships the contrib extensions only' : ''})`
    : 'this server'
  const get = `install ${debianPackage(extension, n)} (Debian/Ubuntu) or \`brew install ${brewFormula(extension)}\` (macOS)`
  const how =
    server?.engine === 'system'
      ? `${get} for this server`
      : server?.engine === 'external'
        ? `${get} on the machine that runs the server`
        : `${get} and run on that PostgreSQL with --engine system --pg ${n} (engine: 'system', pg: ${n})`
  return `extension "${extension}" is not installed in ${where}; ${how}`
}
