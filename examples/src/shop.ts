import pg from 'pg'

/** Anything that runs a query: a pg.Pool, a pg.Client, or a pooled client inside a transaction. */
export interface Queryable {
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>>
}

export interface Product {
  id: string
  sku: string
  name: string
  priceCents: number
  stock: number
}

export interface Order {
  id: string
  tenantId: string
  customerId: string
  status: 'placed' | 'paid' | 'cancelled'
  totalCents: number
  items: { sku: string; quantity: number; priceCents: number }[]
}

export class OutOfStockError extends Error {
  override readonly name = 'OutOfStockError'
  constructor(
    readonly sku: string,
    readonly wanted: number,
    readonly left: number,
  ) {
    super(`not enough ${sku} in stock: wanted ${wanted}, ${left} left`)
  }
}

/**
 * Runs `work` inside one transaction on one pooled connection: committed when it returns,
 * rolled back when it throws.
 */
export async function inTransaction<T>(pool: pg.Pool, work: (tx: pg.PoolClient) => Promise<T>): Promise<T> {
  const tx = await pool.connect()
  try {
    await tx.query('BEGIN')
    const result = await work(tx)
    await tx.query('COMMIT')
    return result
  } catch (error) {
    await tx.query('ROLLBACK').catch(() => {})
    throw error
  } finally {
    tx.release()
  }
}

const productColumns = `id, sku, name, price_cents AS "priceCents", stock`

/** The shop's data access: every query the app runs lives here. */
export class ShopRepository {
  constructor(private readonly pool: pg.Pool) {}

  async productBySku(sku: string, db: Queryable = this.pool): Promise<Product | undefined> {
    const { rows } = await db.query<Product>(`SELECT ${productColumns} FROM products WHERE sku = $1`, [sku])
    return rows[0]
  }

  async setPrice(sku: string, priceCents: number): Promise<void> {
    await this.pool.query('UPDATE products SET price_cents = $2 WHERE sku = $1', [sku, priceCents])
  }

  async customerByEmail(
    email: string,
  ): Promise<{ id: string; tenantId: string; balanceCents: number } | undefined> {
    const { rows } = await this.pool.query(
      `SELECT id, tenant_id AS "tenantId", balance_cents::int AS "balanceCents" FROM customers WHERE email = $1`,
      [email],
    )
    return rows[0]
  }

  /**
   * Places an order: takes the items from stock, records the order and charges the customer,
   * all or nothing. Out of stock or a balance too small rolls everything back.
   */
  async placeOrder(customerId: string, items: { sku: string; quantity: number }[]): Promise<Order> {
    return inTransaction(this.pool, async (tx) => {
      const { rows: customers } = await tx.query('SELECT tenant_id FROM customers WHERE id = $1', [
        customerId,
      ])
      if (!customers[0]) throw new Error(`no customer ${customerId}`)
      const tenantId: string = customers[0].tenant_id
      const { rows: orders } = await tx.query(
        'INSERT INTO orders (tenant_id, customer_id) VALUES ($1, $2) RETURNING id',
        [tenantId, customerId],
      )
      const orderId: string = orders[0].id
      let total = 0
      // Sorted by sku, so two orders for the same products lock them in the same order and cannot deadlock.
      for (const item of [...items].sort((a, b) => a.sku.localeCompare(b.sku))) {
        const { rows } = await tx.query<Product>(
          `SELECT ${productColumns} FROM products WHERE sku = $1 FOR UPDATE`,
          [item.sku],
        )
        const product = rows[0]
        if (!product) throw new Error(`no product ${item.sku}`)
        if (product.stock < item.quantity) throw new OutOfStockError(item.sku, item.quantity, product.stock)
        await tx.query('UPDATE products SET stock = stock - $2 WHERE id = $1', [product.id, item.quantity])
        await tx.query(
          'INSERT INTO order_items (order_id, product_id, quantity, price_cents) VALUES ($1, $2, $3, $4)',
          [orderId, product.id, item.quantity, product.priceCents],
        )
        total += product.priceCents * item.quantity
      }
      await tx.query('UPDATE orders SET total_cents = $2 WHERE id = $1', [orderId, total])
      // The CHECK (balance_cents >= 0) refuses an order the customer cannot pay for.
      await tx.query('UPDATE customers SET balance_cents = balance_cents - $2 WHERE id = $1', [
        customerId,
        total,
      ])
      return (await this.order(orderId, tx))!
    })
  }

  async order(id: string, db: Queryable = this.pool): Promise<Order | undefined> {
    const { rows } = await db.query(
      `SELECT o.id, o.tenant_id AS "tenantId", o.customer_id AS "customerId", o.status, o.total_cents::int AS "totalCents",
              coalesce(json_agg(json_build_object('sku', p.sku, 'quantity', i.quantity, 'priceCents', i.price_cents)
                                ORDER BY p.sku) FILTER (WHERE p.sku IS NOT NULL), '[]') AS items
       FROM orders o
       LEFT JOIN order_items i ON i.order_id = o.id
       LEFT JOIN products p ON p.id = i.product_id
       WHERE o.id = $1
       GROUP BY o.id`,
      [id],
    )
    return rows[0] as Order | undefined
  }

  async cancelOrder(id: string): Promise<void> {
    await inTransaction(this.pool, async (tx) => {
      const { rows } = await tx.query(
        `UPDATE orders SET status = 'cancelled' WHERE id = $1 AND status <> 'cancelled' RETURNING customer_id, total_cents`,
        [id],
      )
      if (!rows[0]) return
      await tx.query(
        `UPDATE products p SET stock = p.stock + i.quantity FROM order_items i WHERE i.order_id = $1 AND p.id = i.product_id`,
        [id],
      )
      await tx.query('UPDATE customers SET balance_cents = balance_cents + $2 WHERE id = $1', [
        rows[0].customer_id,
        rows[0].total_cents,
      ])
    })
  }

  /** Moves credit between two customers; locks both rows in a fixed order so transfers cannot deadlock. */
  async transfer(fromId: string, toId: string, cents: number): Promise<void> {
    await inTransaction(this.pool, async (tx) => {
      await tx.query('SELECT 1 FROM customers WHERE id = ANY($1) ORDER BY id FOR UPDATE', [[fromId, toId]])
      await tx.query('UPDATE customers SET balance_cents = balance_cents - $2 WHERE id = $1', [fromId, cents])
      await tx.query('UPDATE customers SET balance_cents = balance_cents + $2 WHERE id = $1', [toId, cents])
    })
  }
}
