import { connect, expect, test } from './fixtures.js'

type AuditRow = {
  id: string
  operation: string
  row_id: string
  prev_hash: Buffer | null
  hash: Buffer
}

test('every change to an order appends a row linked to the one before it', async ({ db, shop }) => {
  const ada = (await shop.customerByEmail('ada@acme.test'))!
  const order = await shop.placeOrder(ada.id, [{ sku: 'MS-01', quantity: 2 }])
  await shop.cancelOrder(order.id)

  const chain =
    await db.sql<AuditRow>`SELECT id, operation, row_id, prev_hash, hash FROM audit_log ORDER BY id`
  const mine = chain.filter((row) => row.row_id === order.id)
  // placed (INSERT), total set (UPDATE), cancelled (UPDATE)
  expect(mine.map((row) => row.operation)).toEqual(['INSERT', 'UPDATE', 'UPDATE'])
  chain.forEach((row, i) => expect(row.prev_hash).toEqual(i === 0 ? null : chain[i - 1]!.hash))
  expect(await db.sql`SELECT audit_verify() AS broken`).toEqual([{ broken: null }])
})

test('the audit log refuses updates and deletes', async ({ db }) => {
  await expect(db.query(`UPDATE audit_log SET data = '{}'`)).rejects.toMatchObject({
    code: '42501',
    message: 'audit_log is append-only: UPDATE refused',
  })
  await expect(db.query('DELETE FROM audit_log')).rejects.toThrow('audit_log is append-only: DELETE refused')
})

test('editing a past row behind the triggers is detected at that row', async ({ db, defer }) => {
  const [first, second] = await db.sql<{ id: string }>`SELECT id FROM audit_log ORDER BY id LIMIT 2`
  // A superuser can switch triggers off for a session; that is exactly what the chain guards against.
  const admin = await connect(db.adminUrl, defer)
  await admin.query(`SET session_replication_role = replica`)
  await admin.query(`UPDATE audit_log SET data = jsonb_set(data, '{total_cents}', '1') WHERE id = $1`, [
    second!.id,
  ])

  expect(await db.sql`SELECT audit_verify() AS broken`).toEqual([{ broken: second!.id }])
  expect(first!.id < second!.id).toBe(true)
})

test('deleting a row from the middle is detected at the row after it', async ({ db, shop, defer }) => {
  const ada = (await shop.customerByEmail('ada@acme.test'))!
  await shop.placeOrder(ada.id, [{ sku: 'CB-USB', quantity: 1 }])
  const ids = (await db.sql<{ id: string }>`SELECT id FROM audit_log ORDER BY id`).map((r) => r.id)
  const admin = await connect(db.adminUrl, defer)
  await admin.query(`SET session_replication_role = replica`)
  await admin.query(`DELETE FROM audit_log WHERE id = $1`, [ids[1]])

  expect(await db.sql`SELECT audit_verify() AS broken`).toEqual([{ broken: ids[2] }])
})

test('concurrent writers still build one unbroken chain', async ({ db, shop }) => {
  const [{ n: before } = { n: 0 }] = await db.sql<{ n: number }>`SELECT count(*)::int AS n FROM audit_log`
  const ada = (await shop.customerByEmail('ada@acme.test'))!
  await Promise.all(
    Array.from({ length: 8 }, () => shop.placeOrder(ada.id, [{ sku: 'CB-USB', quantity: 1 }])),
  )

  expect(await db.sql`SELECT count(*)::int AS n FROM audit_log`).toEqual([{ n: before + 16 }])
  expect(await db.sql`SELECT audit_verify() AS broken`).toEqual([{ broken: null }])
})
