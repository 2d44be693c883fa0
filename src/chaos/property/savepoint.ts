import type pg from 'pg'
import { recordingSql, type Sql } from './recording-sql.js'

let counter = 0

/**
 * Runs `work` inside a savepoint on `client` (which must be inside a transaction) and rolls it
 * back afterwards, pass or fail: the isolation `pgProperty` uses, for `@fast-check/vitest`'s
 * `test.prop` or any other runner that drives cases itself.
 */
export async function inSavepoint<T>(client: pg.Client, work: (sql: Sql) => Promise<T>): Promise<T> {
  const name = `pgrig_sp_${++counter}`
  await client.query(`savepoint ${name}`)
  try {
    return await work(recordingSql(client))
  } finally {
    await client.query(`rollback to savepoint ${name}`)
    await client.query(`release savepoint ${name}`)
  }
}
