/**
 * A chaos suite for the shop: faults a real network and a real server produce, injected with the
 * `proxy` fixture (a pgrig/chaos proxy in front of this test's database), and what the app does.
 */
import pg from 'pg'
import { describe } from 'vitest'
import { withRetry } from '../src/retry.js'
import { ShopRepository } from '../src/shop.js'
import { expect, test as base } from './fixtures.js'

/** The app's repository, reaching this test's database through the proxy. */
const test = base.extend<{ poolOptions: pg.PoolConfig; proxiedShop: ShopRepository }>({
  poolOptions: {},
  proxiedShop: async ({ proxy, defer, poolOptions }, use) => {
    const pool = new pg.Pool({ connectionString: proxy.url, max: 4, ...poolOptions })
    pool.on('error', () => {})
    pool.on('connect', (client) => void client.on('error', () => {}))
    defer(() => pool.end())
    await use(new ShopRepository(pool))
  },
})

/** Ada's id and how many orders she has, read directly (not through the proxy). */
async function ada(db: { sql: (s: TemplateStringsArray, ...v: unknown[]) => Promise<unknown[]> }) {
  const [row] = (await db.sql`SELECT c.id, count(o.id)::int AS orders FROM customers c
    LEFT JOIN orders o ON o.customer_id = c.id WHERE c.email = 'ada@acme.test' GROUP BY c.id`) as {
    id: string
    orders: number
  }[]
  return row!
}

test('a serialization failure (40001) on the order is retried and the order is placed once', async ({
  db,
  proxy,
  proxiedShop: shop,
}) => {
  const before = await ada(db)
  const fault = proxy.addStatementFault({
    type: 'error',
    code: '40001',
    match: /^INSERT INTO orders/,
    times: 1,
  })

  const order = await withRetry(() => shop.placeOrder(before.id, [{ sku: 'KB-01', quantity: 1 }]))

  expect(fault.hits).toBe(1)
  expect(order.totalCents).toBe(4900)
  expect((await ada(db)).orders).toBe(before.orders + 1)
  expect(await db.sql`SELECT stock FROM products WHERE sku = 'KB-01'`).toEqual([{ stock: 9 }])
})

test('without a retry the same fault reaches the caller as 40001 and nothing is written', async ({
  db,
  proxy,
  proxiedShop: shop,
}) => {
  const before = await ada(db)
  proxy.addStatementFault({ type: 'error', code: '40001', match: /^INSERT INTO orders/, times: 1 })

  await expect(shop.placeOrder(before.id, [{ sku: 'KB-01', quantity: 1 }])).rejects.toMatchObject({
    code: '40001',
  })
  expect((await ada(db)).orders).toBe(before.orders)
})

test('a COMMIT whose answer is lost: the client sees an error, yet the order was placed', async ({
  db,
  proxy,
  proxiedShop: shop,
}) => {
  const before = await ada(db)
  proxy.addStatementFault({ type: 'ambiguous-commit', times: 1 })

  // withRetry does not run it again: a lost connection during COMMIT is not a rollback.
  const placing = withRetry(() => shop.placeOrder(before.id, [{ sku: 'KB-01', quantity: 1 }]))
  await expect(placing).rejects.toThrow(/Connection terminated|ECONNRESET|connection/i)
  // This is why the app must not retry blindly, and why a caller needs an idempotency key.
  expect((await ada(db)).orders).toBe(before.orders + 1)
})

describe('with a query timeout', () => {
  test.scoped({ poolOptions: { query_timeout: 150 } })

  test("a slow network trips the app's query timeout, and the pool recovers once it is gone", async ({
    proxy,
    proxiedShop: shop,
  }) => {
    expect(await shop.productBySku('KB-01')).toMatchObject({ stock: 10 })

    proxy.addToxic({ type: 'latency', stream: 'downstream', attributes: { latency: 400 } })
    await expect(shop.productBySku('KB-01')).rejects.toThrow(/Query read timeout/)

    proxy.removeToxic('latency_downstream')
    expect(await shop.productBySku('KB-01')).toMatchObject({ stock: 10 })
  })
})

describe('with a connection timeout', () => {
  test.scoped({ poolOptions: { connectionTimeoutMillis: 1000 } })

  test('the database going away mid-test: requests fail fast, and work again when it is back', async ({
    proxy,
    proxiedShop: shop,
  }) => {
    expect(await shop.productBySku('MS-01')).toMatchObject({ sku: 'MS-01' })

    await proxy.disable()
    await expect(shop.productBySku('MS-01')).rejects.toThrow()

    await proxy.enable()
    expect(await shop.productBySku('MS-01')).toMatchObject({ sku: 'MS-01' })
  })
})
