import { PgrigError } from '../../errors.js'

/**
 * Migration tools' bookkeeping tables, left alone by truncate mode whatever `exclude` says:
 * a reset must never make a tool believe its migrations have not run.
 */
export const BOOKKEEPING_TABLES: readonly string[] = [
  'drizzle.__drizzle_migrations', // Drizzle
  'kysely_migration', // Kysely
  'kysely_migration_lock',
  'pgmigrations', // node-pg-migrate
  '_prisma_migrations', // Prisma
  'knex_migrations', // knex
  'knex_migrations_lock',
  'schema_migrations', // golang-migrate, dbmate
  'flyway_schema_history', // Flyway
]

/** A table as `schema.table`, with the partitioned tables it is a partition of (a partition of an excluded table is excluded). */
export interface NamedTable {
  schema: string
  name: string
  ancestors?: { schema: string; name: string }[]
}

export type ExcludeMatcher = (table: NamedTable) => boolean

/** `table` matches that name in any schema; `schema.table` only there. */
export function compileExclude(patterns: readonly string[]): ExcludeMatcher {
  const qualified = new Set<string>()
  const bare = new Set<string>()
  for (const pattern of [...BOOKKEEPING_TABLES, ...patterns]) {
    if (pattern.includes('.')) qualified.add(pattern)
    else bare.add(pattern)
  }
  const one = (schema: string, name: string) => bare.has(name) || qualified.has(`${schema}.${name}`)
  return (table) =>
    one(table.schema, table.name) || (table.ancestors ?? []).some((a) => one(a.schema, a.name))
}

/** Checks the option's shape before anything starts. */
export function assertExcludeShape(exclude: unknown): asserts exclude is string[] | undefined {
  if (exclude === undefined) return
  if (!Array.isArray(exclude) || exclude.some((p) => typeof p !== 'string' || p.trim() === '')) {
    throw new PgrigError(
      'E_CONFIG_INVALID',
      `exclude must be a list of table names (schema.table or table), got ${JSON.stringify(exclude)}`,
    )
  }
}

/** A name the user excluded that matches no table is a typo that would let the table be reset. */
export function assertExcludeMatches(patterns: readonly string[], tables: readonly NamedTable[]): void {
  const names = new Set(tables.map((t) => `${t.schema}.${t.name}`))
  const bare = new Set(tables.map((t) => t.name))
  const missing = patterns.filter((p) => !(p.includes('.') ? names.has(p) : bare.has(p)))
  if (missing.length === 0) return
  const known = [...names].sort()
  const shown = known.length > 12 ? `${known.slice(0, 12).join(', ')}, …` : known.join(', ') || 'none'
  throw new PgrigError(
    'E_CONFIG_INVALID',
    `exclude names ${missing.map((m) => JSON.stringify(m)).join(', ')}, which ${missing.length > 1 ? 'match' : 'matches'} no table of the migrated database; write schema.table or a bare table name (tables: ${shown})`,
  )
}
