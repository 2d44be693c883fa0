import { createHash, randomBytes } from 'node:crypto'
import pg from 'pg'
import { ACME, connect, expect, GLOBEX, test, urlAs, type Defer } from './fixtures.js'

/**
 * A login role for one tenant, as the application would connect. Roles belong to the whole server,
 * not to one database, so the name is derived from the test's database name: tests running in
 * parallel never share a role. The tenant is a per-database role setting.
 */
async function tenantRole(
  db: { name: string; url: string; adminUrl: string },
  tenant: string | null,
  defer: Defer,
): Promise<string> {
  const role = `app_${createHash('sha256').update(`${db.name}/${tenant}`).digest('hex').slice(0, 24)}`
  const password = randomBytes(12).toString('hex')
  const admin = await connect(db.adminUrl, defer)
  const r = pg.escapeIdentifier(role)
  await admin.query(`CREATE ROLE ${r} LOGIN PASSWORD ${pg.escapeLiteral(password)}`)
  if (tenant) {
    await admin.query(
      `ALTER ROLE ${r} IN DATABASE ${pg.escapeIdentifier(db.name)} SET app.tenant_id = ${pg.escapeLiteral(tenant)}`,
    )
  }
  await admin.query(`GRANT USAGE ON SCHEMA public TO ${r}`)
  await admin.query(
    `GRANT SELECT, INSERT, UPDATE ON customers, orders, order_items, products, tenants TO ${r}`,
  )
  defer(async () => {
    // Registered after the role's own connections, so it runs once they have closed.
    await admin.query(`DROP OWNED BY ${r}`)
    await admin.query(`DROP ROLE ${r}`)
  })
  return urlAs(db.url, role, password)
}

test('a tenant role sees only its own customers and orders', async ({ db, defer }) => {
  const acme = await connect(await tenantRole(db, ACME, defer), defer)
  const globex = await connect(await tenantRole(db, GLOBEX, defer), defer)

  const acmeCustomers = (await acme.query('SELECT email, tenant_id FROM customers ORDER BY email')).rows
  expect(acmeCustomers.map((c) => c.email)).toEqual(['ada@acme.test', 'alan@acme.test'])
  expect((await globex.query('SELECT email FROM customers')).rows).toEqual([{ email: 'grace@globex.test' }])
  expect((await acme.query('SELECT count(*)::int AS n FROM orders')).rows).toEqual([{ n: 1 }])

  // Not even a filter on the other tenant's id gets past the policy.
  expect((await acme.query('SELECT * FROM customers WHERE tenant_id = $1', [GLOBEX])).rows).toEqual([])
  // The owner that ran the migrations is not subject to the policy.
  expect(await db.sql`SELECT count(*)::int AS n FROM customers`).toEqual([{ n: 3 }])
})

test("a tenant role cannot write into another tenant's rows", async ({ db, defer }) => {
  const acme = await connect(await tenantRole(db, ACME, defer), defer)

  await expect(
    acme.query(`INSERT INTO customers (tenant_id, email, name) VALUES ($1, 'mallory@acme.test', 'Mallory')`, [
      GLOBEX,
    ]),
  ).rejects.toMatchObject({
    code: '42501',
    message: expect.stringMatching(/violates row-level security policy/),
  })
  // An update of rows it cannot see touches nothing.
  const result = await acme.query(`UPDATE customers SET balance_cents = 0 WHERE tenant_id = $1`, [GLOBEX])
  expect(result.rowCount).toBe(0)
  expect(await db.sql`SELECT balance_cents::int AS b FROM customers WHERE tenant_id = ${GLOBEX}`).toEqual([
    { b: 7500 },
  ])
})

test('an app connection can switch tenant per transaction with SET LOCAL', async ({ db, defer }) => {
  const app = await connect(await tenantRole(db, null, defer), defer)
  expect((await app.query('SELECT count(*)::int AS n FROM customers')).rows).toEqual([{ n: 0 }])

  await app.query('BEGIN')
  await app.query(`SELECT set_config('app.tenant_id', $1, true)`, [GLOBEX])
  expect((await app.query('SELECT name FROM customers')).rows).toEqual([{ name: 'Grace' }])
  await app.query('COMMIT')

  // The setting ended with the transaction.
  expect((await app.query('SELECT count(*)::int AS n FROM customers')).rows).toEqual([{ n: 0 }])
})
