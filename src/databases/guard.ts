import { PgrigError } from '../errors.js'
import { parseLibpqUrl } from '../servers/libpq-url.js'
import {
  assertIdentifier,
  MAX_IDENTIFIER_BYTES,
  quoteIdentifier,
  quoteLiteral,
} from '../servers/sql-quote.js'

/**
 * The safety guard: pgrig only creates, truncates or drops databases it created itself, and only
 * ever talks to PostgreSQL. Every destructive path calls `assertOwned` first.
 */

export type OwnedKind = 'template' | 'clone' | 'worker'

export interface OwnerInfo {
  runId: string
  kind: OwnedKind
}

/** Anything with node-postgres' `query(text, values)`: a `pg.Client`, `pg.Pool` or `PoolClient`. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>
}

const KINDS: readonly OwnedKind[] = ['template', 'clone', 'worker']
const MARKER_PREFIX = 'pgrig '
const RUN_ID = /^[a-z0-9]{1,32}$/
const OWNED_NAME = /^pgrig_(?:tpl_([0-9a-f]{16})|([a-z0-9]{1,32})_(w?)(\d{1,9}))$/
const BUILD_NAME = /^pgrig_tplb_[0-9a-f]{16}_([a-z0-9]{1,32})$/

/**
 * What a database pgrig creates looks like between `CREATE DATABASE` and the marker (two
 * statements, since `CREATE DATABASE` cannot run in a transaction): no connections allowed and this
 * connection limit. The marker and `allow_connections true` then arrive in one transaction, so a
 * pgrig database is recognisable from the moment it exists, whenever its creator dies.
 */
export const BIRTH_CONNECTION_LIMIT = 271828

/** The `CREATE DATABASE` options that give a new database pgrig's birth marks. */
export const BIRTH_OPTIONS = `allow_connections false connection limit ${BIRTH_CONNECTION_LIMIT}`

/**
 * What a database's name says about it under pgrig's naming rule (`pgrig_<runId>_<n>`,
 * `pgrig_<runId>_w<n>`, `pgrig_tpl_<hash16>`, and `pgrig_tplb_<hash16>_<runId>` for a template
 * being built); `null` for any other name. `runId` is `undefined` for a finished template.
 */
export function ownedName(name: string): { kind: OwnedKind; runId: string | undefined } | null {
  if (Buffer.byteLength(name) > MAX_IDENTIFIER_BYTES) return null
  const build = BUILD_NAME.exec(name)
  if (build) return { kind: 'template', runId: build[1] }
  const shape = OWNED_NAME.exec(name)
  if (shape === null) return null
  if (shape[1] !== undefined) return { kind: 'template', runId: undefined }
  return { kind: shape[3] === 'w' ? 'worker' : 'clone', runId: shape[2] }
}

/** Catalog facts of a database, as `pg_database` and its comment give them. */
export interface DatabaseFacts {
  name: string
  comment: string | null
  allowConnections: boolean
  connectionLimit: number
}

/**
 * Whether the leftover sweep may treat a database as pgrig's: its name follows the rule AND it
 * carries a marker that agrees with the name (kind and run), or it is still in its birth state
 * (no comment, no connections, the birth connection limit). Returns the owner, or `null`.
 */
export function ownerOf(facts: DatabaseFacts): OwnerInfo | null {
  const named = ownedName(facts.name)
  if (named === null) return null
  if (facts.comment === null || facts.comment === '') {
    const born = !facts.allowConnections && facts.connectionLimit === BIRTH_CONNECTION_LIMIT
    return born && named.runId !== undefined ? { runId: named.runId, kind: named.kind } : null
  }
  const marker = parseOwnerMarker(facts.comment)
  if (marker === null || marker.kind !== named.kind) return null
  if (named.runId !== undefined && marker.runId !== named.runId) return null
  return marker
}

/**
 * Gives a database created with `BIRTH_OPTIONS` its marker and opens it to connections, in one
 * transaction (the simple query protocol runs both statements as one).
 */
export async function markBorn(client: Queryable, name: string, info: OwnerInfo): Promise<void> {
  const marker = ownerMarker(info)
  await client.query(
    `COMMENT ON DATABASE ${quoteIdentifier(name)} IS ${quoteLiteral(marker)}; ` +
      `ALTER DATABASE ${quoteIdentifier(name)} WITH ALLOW_CONNECTIONS true CONNECTION LIMIT -1`,
  )
}

const SET_URL =
  'set DATABASE_URL=postgres://user:password@host:5432/db, or unset it and let pgrig start a server'

/**
 * Refuses anything that is not a PostgreSQL URL (`sqlite:`, `mysql:`, `file:`, empty, garbage)
 * with one line saying what, why and what to set. Accepts `postgres://` and `postgresql://`,
 * libpq parameters included (`?host=/run/postgresql&sslmode=require`). Never connects.
 */
export function assertPostgresUrl(url: string | undefined, source = 'DATABASE_URL'): URL {
  const raw = url?.trim() ?? ''
  if (raw === '') {
    throw new PgrigError('E_NOT_POSTGRES', `${source} is empty; pgrig needs PostgreSQL: ${SET_URL}`)
  }
  // The WHATWG parser silently drops tabs and newlines, so a URL carrying them could name a
  // different database than the one a reader sees.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(raw)) {
    throw new PgrigError(
      'E_NOT_POSTGRES',
      `${source} contains control characters (newline, tab or NUL), so it is not a usable PostgreSQL URL; ${SET_URL}`,
    )
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(raw)?.[1]?.toLowerCase()
  if (scheme === undefined) {
    throw new PgrigError(
      'E_NOT_POSTGRES',
      `${source} is not a URL (no scheme such as postgres://), so pgrig cannot tell it is PostgreSQL; ${SET_URL}`,
    )
  }
  if (scheme !== 'postgres' && scheme !== 'postgresql') {
    const hint = /postgres/.test(scheme)
      ? ` (${scheme} is another tool's dialect spelling; node drivers read postgres://)`
      : ''
    throw new PgrigError(
      'E_NOT_POSTGRES',
      `${source} is a ${scheme}: URL, not PostgreSQL${hint}; tests here run against real PostgreSQL: ${SET_URL}`,
    )
  }
  let parsed: URL
  try {
    parsed = parseLibpqUrl(raw)
  } catch {
    throw new PgrigError(
      'E_NOT_POSTGRES',
      `${source} starts with ${scheme}:// but does not parse as a URL (check for unescaped @, / or % in the password); ${SET_URL}`,
    )
  }
  const database = safeDecode(parsed.pathname.slice(1))
  if (database !== undefined && Buffer.byteLength(database) > MAX_IDENTIFIER_BYTES) {
    throw new PgrigError(
      'E_NOT_POSTGRES',
      `${source} names a database longer than ${MAX_IDENTIFIER_BYTES} bytes, which PostgreSQL would silently cut to another name; use a shorter name`,
    )
  }
  return parsed
}

function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text)
  } catch {
    return undefined
  }
}

export interface ExternalOptions {
  /** Lets pgrig create its own `pgrig_*` databases on a server it did not start. */
  allowExternal?: boolean
  /** Where the URL came from, for the message (default `DATABASE_URL`). */
  source?: string
}

/**
 * Guards a server pgrig did not start. Refused unless `allowExternal: true`; even then pgrig
 * only creates new `pgrig_*` databases there and never touches existing ones (`assertOwned`).
 * Pure: never resolves or contacts the host.
 */
export function assertExternalAllowed(url: string, options: ExternalOptions = {}): URL {
  const source = options.source ?? 'DATABASE_URL'
  const parsed = assertPostgresUrl(url, source)
  if (options.allowExternal === true) return parsed
  const host = parsed.hostname || new URLSearchParams(parsed.search).get('host') || 'localhost'
  throw new PgrigError(
    'E_UNSAFE_TARGET',
    `refusing the server at ${host}${parsed.port ? `:${parsed.port}` : ''} from ${source}: pgrig did not start it and could be pointed at real data; set allowExternal: true to let pgrig create only its own pgrig_* databases there, or unset ${source} and let pgrig start a server`,
  )
}

/** Names pgrig gives its databases; each carries the run id so leftovers can be found. */
export function cloneDatabaseName(runId: string, n: number): string {
  return checkedName(`pgrig_${checkRunId(runId)}_${checkIndex(n)}`)
}
export function workerDatabaseName(runId: string, n: number): string {
  return checkedName(`pgrig_${checkRunId(runId)}_w${checkIndex(n)}`)
}
export function templateDatabaseName(hash16: string): string {
  if (!/^[0-9a-f]{16}$/.test(hash16)) {
    throw new PgrigError(
      'E_UNSAFE_TARGET',
      `template hash must be 16 lower-case hex digits, got ${JSON.stringify(hash16)}`,
    )
  }
  return `pgrig_tpl_${hash16}`
}
/** Where a template is built before it is renamed into place, so a half-built one is never used. */
export function templateBuildDatabaseName(hash16: string, runId: string): string {
  templateDatabaseName(hash16)
  return checkedName(`pgrig_tplb_${hash16}_${checkRunId(runId)}`)
}

function checkRunId(runId: string): string {
  if (!RUN_ID.test(runId)) {
    throw new PgrigError(
      'E_UNSAFE_TARGET',
      `run id ${JSON.stringify(runId)} is not 1-32 lower-case letters or digits, so it cannot be part of a database name`,
    )
  }
  return runId
}
function checkIndex(n: number): number {
  if (!Number.isSafeInteger(n) || n < 0 || n > 999_999_999) {
    throw new PgrigError('E_UNSAFE_TARGET', `database number must be an integer 0-999999999, got ${n}`)
  }
  return n
}
function checkedName(name: string): string {
  assertIdentifier(name)
  return name
}

/** The exact marker text: `pgrig {"runId":"<runId>","kind":"template|clone|worker"}`. */
export function ownerMarker(info: OwnerInfo): string {
  checkRunId(info.runId)
  if (!KINDS.includes(info.kind)) {
    throw new PgrigError(
      'E_UNSAFE_TARGET',
      `owner kind must be one of ${KINDS.join(', ')}, got ${String(info.kind)}`,
    )
  }
  return `${MARKER_PREFIX}${JSON.stringify({ runId: info.runId, kind: info.kind })}`
}

/** Parses a database comment; `null` when it is not a pgrig marker. */
export function parseOwnerMarker(comment: string | null | undefined): OwnerInfo | null {
  if (typeof comment !== 'string' || !comment.startsWith(MARKER_PREFIX)) return null
  let value: unknown
  try {
    value = JSON.parse(comment.slice(MARKER_PREFIX.length))
  } catch {
    return null
  }
  if (typeof value !== 'object' || value === null) return null
  const { runId, kind } = value as Record<string, unknown>
  if (typeof runId !== 'string' || !RUN_ID.test(runId)) return null
  if (typeof kind !== 'string' || !KINDS.includes(kind as OwnedKind)) return null
  return { runId, kind: kind as OwnedKind }
}

/** Marks a database pgrig just created. Run it as the database owner or a superuser. */
export async function markOwned(client: Queryable, name: string, info: OwnerInfo): Promise<void> {
  const marker = ownerMarker(info)
  await client.query(`COMMENT ON DATABASE ${quoteIdentifier(name)} IS ${quoteLiteral(marker)}`)
}

/** The pgrig marker of a database; `null` when it has none or does not exist. */
export async function readOwner(client: Queryable, name: string): Promise<OwnerInfo | null> {
  const found = await lookup(client, name)
  return found.exists ? parseOwnerMarker(found.comment) : null
}

async function lookup(client: Queryable, name: string): Promise<{ exists: boolean; comment: string | null }> {
  const { rows } = await client.query(
    `select shobj_description(oid, 'pg_database') as comment from pg_database where datname = $1`,
    [name],
  )
  const row = rows[0]
  return row === undefined
    ? { exists: false, comment: null }
    : { exists: true, comment: (row.comment as string | null) ?? null }
}

/**
 * Throws `E_UNSAFE_TARGET` unless `name` is a pgrig database name whose marker says pgrig created
 * it (and, with `runId`, in that run). Call before every truncate or drop.
 */
export async function assertOwned(client: Queryable, name: string, runId?: string): Promise<OwnerInfo> {
  const shown = JSON.stringify(name)
  const shape = OWNED_NAME.exec(name)
  if (shape === null || Buffer.byteLength(name) > MAX_IDENTIFIER_BYTES) {
    throw unsafe(
      `database ${shown} is not named like a pgrig database (pgrig_<runId>_<n>, pgrig_<runId>_w<n>, pgrig_tpl_<hash>)`,
    )
  }
  const found = await lookup(client, name)
  if (!found.exists) throw unsafe(`database ${shown} does not exist on this server`)
  const owner = parseOwnerMarker(found.comment)
  if (owner === null) {
    throw unsafe(
      `database ${shown} carries no pgrig marker (COMMENT ON DATABASE), so pgrig did not create it`,
    )
  }
  const kindFromName: OwnedKind = shape[1] !== undefined ? 'template' : shape[3] === 'w' ? 'worker' : 'clone'
  if (owner.kind !== kindFromName || (shape[2] !== undefined && shape[2] !== owner.runId)) {
    throw unsafe(
      `database ${shown} has a marker (${owner.kind} of run ${owner.runId}) that does not match its name`,
    )
  }
  if (runId !== undefined && owner.runId !== runId && owner.kind !== 'template') {
    throw unsafe(`database ${shown} belongs to pgrig run ${owner.runId}, not to this run ${runId}`)
  }
  return owner
}

function unsafe(why: string): PgrigError {
  return new PgrigError(
    'E_UNSAFE_TARGET',
    `${why}; pgrig only truncates or drops databases it created itself and left it untouched`,
  )
}
