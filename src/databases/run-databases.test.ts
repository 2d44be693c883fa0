import { describe, expect, test } from 'vitest'
import { privateRunRoot } from '../../test/support/run-root.js'
import { startRunDatabases, type PgrigOptions } from './run-databases.js'

privateRunRoot('session')

describe('startRunDatabases option checks', () => {
  test.each([
    [
      { isolation: 'databse' },
      `isolation "databse" is not a mode; use 'database', 'transaction', 'truncate', 'reset'`,
    ],
    [{ pool: { max: 0 } }, 'pool.max must be a whole number ≥ 1, got 0'],
    [{ pool: { size: 1.5 } }, 'pool.size must be a whole number ≥ 0, got 1.5'],
    [{ url: 'mysql://root@db/prod' }, /not PostgreSQL/],
    [{ exclude: 'schema_migrations' }, /^exclude must be a list of table names/],
    [{ exclude: ['users', ''] }, /^exclude must be a list of table names/],
    [
      { exclude: ['countries'] },
      "exclude names tables a truncate reset leaves alone, and isolation 'database' resets nothing that way (every test gets its own clone): drop exclude, or use isolation 'truncate'",
    ],
    [{ isolation: 'transaction', exclude: ['countries'] }, /isolation 'transaction' resets nothing that way/],
    [{ url: 'postgres://u:p@db.example.com/prod' }, /set allowExternal: true/],
  ])('%j is refused with one line before anything starts', async (options, message) => {
    const error = await startRunDatabases(options as PgrigOptions).catch((e: Error) => e)
    if (typeof message === 'string') expect((error as Error).message).toBe(message)
    else expect((error as Error).message).toMatch(message)
    expect((error as Error).message).not.toContain('\n')
  })
})
