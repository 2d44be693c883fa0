/**
 * A chaos suite for the shop: faults a real network and a real server produce, injected with the
 * `proxy` fixture (a pgrig/chaos proxy in front of this test's database), and what the app does.
 */
import pg from 'pg'
import { withRetry } from '../src/retry.js'
import { ShopRepository } from '../src/shop.js'
import { expect, test, type Defer } from './fixtures.js'

/** A pool that reaches the test's database through the proxy, ended with the test. */
function poolThrough(url: string, defer: Defer, options: pg.PoolConfig = {}) {
  const pool = new pg.Pool({ connectionString: url, max: 4, ...options })
  pool.on('error', () => {})
  pool.on('connect', (client) => void client.on('error', () => {}))
  defer(() => pool.end())
  return pool
}

async function ordersOf(
  db: { sql: (s: TemplateStringsArray, ...v: unknown[]) => Promise<unknown[]> },
  id: string,
) {
  return ((await db.sql`SELECT count(*)::int AS n FROM orders WHERE customer_id = ${id}`)[0] as { n: number })
    .n
}

test('a serialization failure (40001) on the order is retried and the order is placed once', async ({
  db,
  proxy,
  defer,
}) => {
  const shop = new ShopRepository(poolThrough(proxy.url, defer))
  const ada = (await shop.customerByEmail('ada@acme.test'))!
  const before = await ordersOf(db, ada.id)
  const fault = proxy.addStatementFault({
    type: 'error',
    code: '40001',
    match: /^INSERT INTO orders/,
    times: 1,
  })

  const order = await withRetry(() => shop.placeOrder(ada.id, [{ sku: 'KB-01', quantity: 1 }]))

  expect(fault.hits).toBe(1)
  expect(order.totalCents).toBe(4900)
  expect(await ordersOf(db, ada.id)).toBe(before + 1)
  expect(await db.sql`SELECT stock FROM products WHERE sku = 'KB-01'`).toEqual([{ stock: 9 }])
})

test('without a retry the same fault reaches the caller as 40001 and nothing is written', async ({
  db,
  proxy,
  defer,
}) => {
  const shop = new ShopRepository(poolThrough(proxy.url, defer))
  const ada = (await shop.customerByEmail('ada@acme.test'))!
  const before = await ordersOf(db, ada.id)
  proxy.addStatementFault({ type: 'error', code: '40001', match: /^INSERT INTO orders/, times: 1 })

  await expect(shop.placeOrder(ada.id, [{ sku: 'KB-01', quantity: 1 }])).rejects.toMatchObject({
    code: '40001',
  })
  expect(await ordersOf(db, ada.id)).toBe(before)
})

test('a COMMIT whose answer is lost: the client sees an error, yet the order was placed', async ({
  db,
  proxy,
  defer,
}) => {
  const shop = new ShopRepository(poolThrough(proxy.url, defer))
  const ada = (await shop.customerByEmail('ada@acme.test'))!
  const before = await ordersOf(db, ada.id)
  proxy.addStatementFault({ type: 'ambiguous-commit', times: 1 })

  // withRetry does not run it again: a lost connection during COMMIT is not a rollback.
  const placing = withRetry(() => shop.placeOrder(ada.id, [{ sku: 'KB-01', quantity: 1 }]))
  await expect(placing).rejects.toThrow(/Connection terminated|ECONNRESET|connection/i)
  // This is why the app must not retry blindly, and why a caller needs an idempotency key.
  expect(await ordersOf(db, ada.id)).toBe(before + 1)
})

test("a slow network trips the app's query timeout, and the pool recovers once it is gone", async ({
  proxy,
  defer,
}) => {
  const shop = new ShopRepository(poolThrough(proxy.url, defer, { query_timeout: 150 }))
  expect(await shop.productBySku('KB-01')).toMatchObject({ stock: 10 })

  proxy.addToxic({ type: 'latency', stream: 'downstream', attributes: { latency: 400 } })
  await expect(shop.productBySku('KB-01')).rejects.toThrow(/Query read timeout/)

  proxy.removeToxic('latency_downstream')
  expect(await shop.productBySku('KB-01')).toMatchObject({ stock: 10 })
})

test('the database going away mid-test: requests fail fast, and work again when it is back', async ({
  proxy,
  defer,
}) => {
  const shop = new ShopRepository(poolThrough(proxy.url, defer, { connectionTimeoutMillis: 1000 }))
  expect(await shop.productBySku('MS-01')).toMatchObject({ sku: 'MS-01' })

  await proxy.disable()
  await expect(shop.productBySku('MS-01')).rejects.toThrow()

  await proxy.enable()
  expect(await shop.productBySku('MS-01')).toMatchObject({ sku: 'MS-01' })
})
