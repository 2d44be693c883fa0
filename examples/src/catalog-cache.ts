import { createClient } from 'redis'
import type { Product, ShopRepository } from './shop.js'

/** The app's Redis connection (not yet connected: call `connect()`). */
export function createRedis(url: string) {
  return createClient({ url })
}

export type Redis = ReturnType<typeof createRedis>

/**
 * Product lookups served from Redis, read through to PostgreSQL on a miss; a price change writes
 * the database first and then drops the cached copy, so readers never see a stale price for long.
 */
export class CatalogCache {
  /** How many lookups went to PostgreSQL: what the tests watch to tell a hit from a miss. */
  loads = 0

  constructor(
    private readonly redis: Redis,
    private readonly shop: ShopRepository,
    private readonly ttlSeconds = 60,
  ) {}

  private key(sku: string): string {
    return `product:${sku}`
  }

  async product(sku: string): Promise<Product | undefined> {
    const cached = await this.redis.get(this.key(sku))
    if (cached) return JSON.parse(cached) as Product
    this.loads++
    const product = await this.shop.productBySku(sku)
    if (product) await this.redis.set(this.key(sku), JSON.stringify(product), { EX: this.ttlSeconds })
    return product
  }

  async setPrice(sku: string, priceCents: number): Promise<void> {
    await this.shop.setPrice(sku, priceCents)
    await this.redis.del(this.key(sku))
  }
}
