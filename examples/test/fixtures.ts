/**
 * App fixtures built on pgrig's: a test asks for `shop` or `cache` and gets them wired to its own
 * database and Redis index, closed after the test. This is how a user extends `pgrig/vitest`.
 */
import pg from 'pg'
import { test as pgrigTest } from 'pgrig/vitest'
import { CatalogCache, createRedis, type Redis } from '../src/catalog-cache.js'
import { ShopRepository } from '../src/shop.js'

export { expect } from 'pgrig/vitest'

/** Registers an undo step; steps run last-first when the test ends, before its database goes away. */
export type Defer = (undo: () => unknown) => void

export const test = pgrigTest.extend<{
  defer: Defer
  pool: pg.Pool
  shop: ShopRepository
  redisClient: Redis
  cache: CatalogCache
}>({
  // A fixture rather than onTestFinished: Vitest tears fixtures down before onTestFinished runs, and
  // this one depends on db, so its undo steps run while the test's database still exists.
  defer: async ({ db }, use) => {
    void db
    const steps: (() => unknown)[] = []
    await use((undo) => void steps.push(undo))
    for (const undo of steps.reverse()) await undo()
  },
  pool: async ({ db }, use) => {
    const pool = new pg.Pool({ connectionString: db.url, max: 10 })
    // pool.end() resolves before its connections have closed; pgrig may drop the database (and its
    // sessions) right after the test, which must not surface as an unhandled error.
    pool.on('error', () => {})
    pool.on('release', (error, client) => void (error && client.on('error', () => {})))
    pool.on('connect', (client) => void client.on('error', () => {}))
    await use(pool)
    await pool.end()
  },
  shop: async ({ pool }, use) => {
    await use(new ShopRepository(pool))
  },
  redisClient: async ({ redis }, use) => {
    const client = createRedis(redis.url)
    await client.connect()
    await use(client)
    client.destroy()
  },
  cache: async ({ redisClient, shop }, use) => {
    await use(new CatalogCache(redisClient, shop))
  },
})

/** The ids the seed gives the two tenants. */
export const ACME = '00000000-0000-4000-8000-00000000000a'
export const GLOBEX = '00000000-0000-4000-8000-00000000000b'

/** The same server and database as `url`, as another user. */
export function urlAs(url: string, user: string, password: string, database?: string): string {
  const parsed = new URL(url)
  parsed.username = user
  parsed.password = password
  if (database) parsed.pathname = `/${encodeURIComponent(database)}`
  return parsed.toString()
}

/** A connected client that ends when the test does. */
export async function connect(url: string, defer: Defer): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url })
  client.on('error', () => {})
  await client.connect()
  defer(() => client.end().catch(() => {}))
  return client
}
