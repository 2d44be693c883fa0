import pg from 'pg'
import { OutOfStockError } from '../src/shop.js'
import { connect, expect, test } from './fixtures.js'

async function stockOf(
  db: { sql: (s: TemplateStringsArray, ...v: unknown[]) => Promise<Record<string, unknown>[]> },
  sku: string,
) {
  const [row] = await db.sql`SELECT stock FROM products WHERE sku = ${sku}`
  return row!.stock as number
}

test('a committed order is visible to every other connection', async ({ db, shop }) => {
  const ada = (await shop.customerByEmail('ada@acme.test'))!
  const order = await shop.placeOrder(ada.id, [
    { sku: 'KB-01', quantity: 1 },
    { sku: 'MS-01', quantity: 2 },
  ])

  expect(order).toMatchObject({ status: 'placed', totalCents: 4900 + 2 * 1900 })
  // db.client is another connection than the repository's pool.
  expect(await db.sql`SELECT total_cents::int AS t FROM orders WHERE id = ${order.id}`).toEqual([{ t: 8700 }])
  expect(await stockOf(db, 'KB-01')).toBe(9)
  expect(await db.sql`SELECT balance_cents::int AS b FROM customers WHERE id = ${ada.id}`).toEqual([
    { b: 10000 - 8700 },
  ])
})

test('an error part-way rolls back everything the transaction did', async ({ db, shop }) => {
  const ada = (await shop.customerByEmail('ada@acme.test'))!
  const ordersBefore = await db.sql`SELECT count(*)::int AS n FROM orders`

  // The keyboard is taken from stock first, then the monitors are found missing.
  const failure = shop.placeOrder(ada.id, [
    { sku: 'KB-01', quantity: 1 },
    { sku: 'MN-27', quantity: 5 },
  ])
  await expect(failure).rejects.toBeInstanceOf(OutOfStockError)
  await expect(failure).rejects.toThrow('not enough MN-27 in stock: wanted 5, 3 left')

  expect(await db.sql`SELECT count(*)::int AS n FROM orders`).toEqual(ordersBefore)
  expect(await stockOf(db, 'KB-01')).toBe(10)
})

test('a CHECK constraint violation (23514) rolls the order back too', async ({ db, shop }) => {
  const alan = (await shop.customerByEmail('alan@acme.test'))!
  await expect(shop.placeOrder(alan.id, [{ sku: 'MN-27', quantity: 1 }])).rejects.toMatchObject({
    code: '23514',
    constraint: 'customers_balance_cents_check',
  })
  expect(await stockOf(db, 'MN-27')).toBe(3)
  expect(await db.sql`SELECT count(*)::int AS n FROM orders WHERE customer_id = ${alan.id}`).toEqual([
    { n: 0 },
  ])
})

const levels = [
  // READ UNCOMMITTED is accepted, and behaves as READ COMMITTED in PostgreSQL.
  ['READ UNCOMMITTED', 8],
  ['READ COMMITTED', 8],
  ['REPEATABLE READ', 10],
  ['SERIALIZABLE', 10],
] as const

test.for(levels)(
  '%s: what a second read sees after another transaction commits',
  async ([level, expected], { db, defer }) => {
    const reader = await connect(db.url, defer)
    await reader.query(`BEGIN ISOLATION LEVEL ${level}`)
    const read = async () =>
      (await reader.query(`SELECT stock FROM products WHERE sku = 'KB-01'`)).rows[0].stock
    expect(await read()).toBe(10)

    await db.query(`UPDATE products SET stock = 8 WHERE sku = 'KB-01'`)

    expect(await read()).toBe(expected)
    await reader.query('COMMIT')
    expect(await read()).toBe(8)
  },
)

test('REPEATABLE READ refuses to update a row changed since it began (40001)', async ({ db, defer }) => {
  const tx = await connect(db.url, defer)
  await tx.query('BEGIN ISOLATION LEVEL REPEATABLE READ')
  await tx.query(`SELECT stock FROM products WHERE sku = 'KB-01'`)
  await db.query(`UPDATE products SET stock = stock - 1 WHERE sku = 'KB-01'`)

  await expect(tx.query(`UPDATE products SET stock = stock - 1 WHERE sku = 'KB-01'`)).rejects.toMatchObject({
    code: '40001',
    message: 'could not serialize access due to concurrent update',
  })
  await tx.query('ROLLBACK')
  expect(await stockOf(db, 'KB-01')).toBe(9)
})

/**
 * Write skew: each transaction checks that acme keeps at least 50.00 in total, then withdraws from a
 * different customer. Each check passes on its own snapshot; together they break the rule.
 */
async function withdrawConcurrently(db: { url: string }, level: string, defer: (f: () => unknown) => void) {
  const a = await connect(db.url, defer)
  const b = await connect(db.url, defer)
  const total = `SELECT sum(balance_cents)::int AS total FROM customers WHERE tenant_id = '00000000-0000-4000-8000-00000000000a'`
  for (const tx of [a, b]) {
    await tx.query(`BEGIN ISOLATION LEVEL ${level}`)
    expect((await tx.query(total)).rows[0].total).toBe(15000)
  }
  await a.query(`UPDATE customers SET balance_cents = balance_cents - 8000 WHERE email = 'ada@acme.test'`)
  await b.query(`UPDATE customers SET balance_cents = balance_cents - 4000 WHERE email = 'alan@acme.test'`)
  return Promise.allSettled([a.query('COMMIT'), b.query('COMMIT')])
}

test('REPEATABLE READ lets write skew through', async ({ db, defer }) => {
  const outcomes = await withdrawConcurrently(db, 'REPEATABLE READ', defer)
  expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled'])
  expect(
    await db.sql`SELECT sum(balance_cents)::int AS total FROM customers WHERE email LIKE '%@acme.test'`,
  ).toEqual([{ total: 3000 }])
})

test('SERIALIZABLE refuses write skew: one transaction fails with 40001', async ({ db, defer }) => {
  const outcomes = await withdrawConcurrently(db, 'SERIALIZABLE', defer)
  const failed = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected')
  expect(failed).toHaveLength(1)
  expect(failed[0]!.reason).toMatchObject({
    code: '40001',
    message: expect.stringMatching(/could not serialize/),
  })
  // Whichever withdrawal went through, the rule holds.
  const [acme] = await db.sql<{
    total: number
  }>`SELECT sum(balance_cents)::int AS total FROM customers WHERE email LIKE '%@acme.test'`
  expect([7000, 11000]).toContain(acme?.total)
})

test('a deadlock is broken by the server with 40P01; the survivor commits and a retry succeeds', async ({
  db,
  defer,
}) => {
  // Only this test's database detects deadlocks after 50 ms instead of 1 s (a superuser setting).
  const admin = await connect(db.adminUrl, defer)
  await admin.query(`ALTER DATABASE ${pg.escapeIdentifier(db.name)} SET deadlock_timeout = '50ms'`)
  const a = await connect(db.url, defer)
  const b = await connect(db.url, defer)
  const move = (from: string, to: string) => [
    `UPDATE customers SET balance_cents = balance_cents - 100 WHERE email = '${from}'`,
    `UPDATE customers SET balance_cents = balance_cents + 100 WHERE email = '${to}'`,
  ]
  const [aFirst, aSecond] = move('ada@acme.test', 'alan@acme.test')
  const [bFirst, bSecond] = move('alan@acme.test', 'ada@acme.test')
  await a.query('BEGIN')
  await b.query('BEGIN')
  await a.query(aFirst!)
  await b.query(bFirst!)
  // Each now waits for the row the other holds.
  const outcomes = await Promise.allSettled([a.query(aSecond!), b.query(bSecond!)])

  const failed = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected')
  expect(failed).toHaveLength(1)
  expect(failed[0]!.reason).toMatchObject({ code: '40P01', message: 'deadlock detected' })
  const [survivor, victim] = outcomes[0]!.status === 'fulfilled' ? [a, b] : [b, a]
  await survivor.query('COMMIT')
  await victim.query('ROLLBACK')
  // The victim's work is gone; retried after the survivor's commit, it goes through.
  await victim.query('BEGIN')
  for (const statement of victim === a ? [aFirst!, aSecond!] : [bFirst!, bSecond!])
    await victim.query(statement)
  await victim.query('COMMIT')
  expect(
    await db.sql`SELECT email, balance_cents::int AS b FROM customers WHERE email LIKE '%@acme.test' ORDER BY 1`,
  ).toEqual([
    { email: 'ada@acme.test', b: 10000 },
    { email: 'alan@acme.test', b: 5000 },
  ])
})

test('transfers that lock rows in a fixed order never deadlock', async ({ db, shop }) => {
  const ada = (await shop.customerByEmail('ada@acme.test'))!
  const alan = (await shop.customerByEmail('alan@acme.test'))!
  await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      i % 2 ? shop.transfer(ada.id, alan.id, 10) : shop.transfer(alan.id, ada.id, 10),
    ),
  )
  expect(
    await db.sql`SELECT sum(balance_cents)::int AS total FROM customers WHERE tenant_id = ${ada.tenantId}`,
  ).toEqual([{ total: 15000 }])
})

test('savepoints undo part of a transaction and keep the rest', async ({ db }) => {
  await db.query('BEGIN')
  await db.query(`INSERT INTO tenants (name) VALUES ('initech')`)
  await db.query('SAVEPOINT before_customer')
  // A foreign key violation: no such tenant.
  await expect(
    db.query(`INSERT INTO customers (tenant_id, email, name) VALUES (gen_random_uuid(), 'x@y.test', 'X')`),
  ).rejects.toMatchObject({ code: '23503' })
  // Without the savepoint, the whole transaction would now be aborted (25P02).
  await db.query('ROLLBACK TO SAVEPOINT before_customer')
  await db.query(
    `INSERT INTO customers (tenant_id, email, name) SELECT id, 'peter@initech.test', 'Peter' FROM tenants WHERE name = 'initech'`,
  )
  await db.query('SAVEPOINT nested')
  await db.query(`UPDATE customers SET name = 'Bill' WHERE email = 'peter@initech.test'`)
  await db.query('RELEASE SAVEPOINT nested')
  await db.query('COMMIT')

  expect(
    await db.sql`SELECT c.name FROM customers c JOIN tenants t ON t.id = c.tenant_id WHERE t.name = 'initech'`,
  ).toEqual([{ name: 'Bill' }])
})

test('after an error without a savepoint, the transaction is aborted until it ends (25P02)', async ({
  db,
}) => {
  await db.query('BEGIN')
  await expect(db.query('SELECT 1 / 0')).rejects.toMatchObject({ code: '22012' })
  await expect(db.query('SELECT 1')).rejects.toMatchObject({ code: '25P02' })
  await db.query('ROLLBACK')
  expect(await db.query('SELECT 1 AS ok')).toEqual([{ ok: 1 }])
})
