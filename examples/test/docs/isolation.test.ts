/**
 * docs/isolation.md's code, run: the transaction and truncate isolations from code, over this test's
 * own database (a clone pgrig marked, as the per-worker databases are).
 */
import { expect, test } from 'pgrig/vitest'
import { query } from './query.js'
// #region isolation
import { createTransactionIsolation, createTruncateIsolation } from 'pgrig'
// #endregion isolation

const count = async (url: string) =>
  (await query<{ n: number }>(url, 'select count(*)::int as n from customers'))[0]!.n

const addCustomer = (url: string) =>
  query(
    url,
    "insert into customers (tenant_id, email, name) select id, 'new@acme.test', 'New' from tenants where name = 'acme'",
  )

test('a transaction per test, then truncate and refill', async ({ db }) => {
  const workerDbUrl = db.url
  const runId = db.name.split('_')[1]!
  const seeded = await count(db.url)
  // #region isolation
  const tx = await createTransactionIsolation({ url: workerDbUrl, runId })
  const appUrl = tx.url // hand this to the code under test (or tx.install() to set DATABASE_URL and PG* in process.env)
  await tx.beginTest() // no round trip: BEGIN goes out with the test's first statement
  // #endregion isolation
  await addCustomer(appUrl)
  expect(await count(appUrl)).toBe(seeded + 1)
  // #region isolation
  await tx.endTest() // ROLLBACK; { leftOpen } says the code left its own transaction open
  await tx.close()

  const tr = await createTruncateIsolation({ url: workerDbUrl, runId, exclude: ['tenants'] })
  // #endregion isolation
  expect(await count(db.url)).toBe(seeded)
  await addCustomer(db.url)
  // #region isolation
  await tr.reset() // { truncated, tables, restored, durationMs }; one query and nothing more when nothing was written
  await tr.close()
  // #endregion isolation
  expect(await count(db.url)).toBe(seeded)
})
