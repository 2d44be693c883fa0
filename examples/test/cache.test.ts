import { expect, test } from './fixtures.js'

test('each worker gets its own Redis database, empty at the start of every test', async ({
  redis,
  redisClient,
}) => {
  expect(redis.url).toMatch(new RegExp(`^redis://.+/${redis.index}$`))
  expect(await redisClient.dbSize()).toBe(0)
  // Left behind on purpose: the next test must not see it.
  await redisClient.set('leftover', 'from an earlier test')
})

test('keys from an earlier test are gone', async ({ redisClient }) => {
  expect(await redisClient.get('leftover')).toBeNull()
})

test('a second lookup is served from Redis without touching PostgreSQL', async ({ cache, redisClient }) => {
  const first = await cache.product('KB-01')
  const second = await cache.product('KB-01')

  expect(second).toEqual(first)
  expect(first).toMatchObject({ sku: 'KB-01', priceCents: 4900 })
  expect(cache.loads).toBe(1)
  expect(await redisClient.ttl('product:KB-01')).toBeGreaterThan(0)
})

test('a price change drops the cached copy, so the next read sees the new price', async ({ cache, db }) => {
  expect(await cache.product('MS-01')).toMatchObject({ priceCents: 1900 })
  await cache.setPrice('MS-01', 2100)

  expect(await cache.product('MS-01')).toMatchObject({ priceCents: 2100 })
  expect(cache.loads).toBe(2)
  expect(await db.sql`SELECT price_cents FROM products WHERE sku = 'MS-01'`).toEqual([{ price_cents: 2100 }])
})

test('an expired entry is loaded again from PostgreSQL', async ({ cache, redisClient }) => {
  await cache.product('CB-USB')
  await redisClient.pExpire('product:CB-USB', 20)
  await expect.poll(() => redisClient.exists('product:CB-USB')).toBe(0)

  await cache.product('CB-USB')
  expect(cache.loads).toBe(2)
})

test('an unknown product is not cached', async ({ cache, redisClient }) => {
  expect(await cache.product('NOPE')).toBeUndefined()
  expect(await redisClient.exists('product:NOPE')).toBe(0)
})
