// vitest.config.ts: plugins: [pgrig({ migrations: './migrations', seed: './seed.sql' })]
import { expect, test } from 'pgrig/vitest'

test('each test gets its own migrated, seeded database', async ({ db }) => {
  await db.sql`insert into tenants (name) values (${'initech'})`
  const rows = await db.query<{ name: string }>('select name from tenants order by name')
  expect(rows.map((r) => r.name)).toEqual(['acme', 'globex', 'initech'])
})

test('and sees nothing another test wrote', async ({ db }) => {
  expect(await db.sql`select count(*)::int as n from tenants`).toEqual([{ n: 2 }])
})
