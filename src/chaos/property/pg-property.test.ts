import { fc, test as fcTest } from '@fast-check/vitest'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../../servers/start-server.js'
import { pgProperty, PropertyFailure } from './pg-property.js'
import { inSavepoint } from './savepoint.js'

let cluster: StartedServer

beforeAll(async () => {
  cluster = await startServer({ name: 'chaos-property' })
  const client = new pg.Client({ connectionString: cluster.url })
  await client.connect()
  await client.query(`
    create table ledger (id serial primary key, amount int not null check (amount <> 13));
    -- The bug under test: credits are summed, debits silently dropped.
    create function ledger_total() returns bigint language sql
      as $$ select coalesce(sum(amount) filter (where amount > 0), 0) from ledger $$;`)
  await client.end()
})
afterAll(() => cluster?.stop())

async function ledgerRows(): Promise<number> {
  const client = new pg.Client({ connectionString: cluster.url })
  await client.connect()
  try {
    return (await client.query<{ n: number }>('select count(*)::int as n from ledger')).rows[0]!.n
  } finally {
    await client.end()
  }
}

const amounts = fc.array(
  fc.integer({ min: -1000, max: 1000 }).filter((n) => n !== 13),
  { maxLength: 8 },
)

async function totalMatchesSum(sql: Parameters<Parameters<typeof pgProperty>[2]>[0], list: number[]) {
  for (const amount of list) await sql`insert into ledger (amount) values (${amount})`
  const { rows } = await sql<{ total: string }>`select ledger_total() as total`
  expect(Number(rows[0]!.total)).toBe(list.reduce((a, b) => a + b, 0))
}

describe('pgProperty [property]', () => {
  test('each case starts from the same state (savepoint per case) and nothing is left behind', async () => {
    await pgProperty(
      cluster,
      [
        fc.array(
          fc.integer({ min: 1, max: 1000 }).filter((n) => n !== 13),
          { maxLength: 10 },
        ),
      ],
      async (sql, list) => {
        for (const amount of list) await sql`insert into ledger (amount) values (${amount})`
        const { rows } = await sql<{ n: number }>`select count(*)::int as n from ledger`
        return rows[0]!.n === list.length
      },
      { numRuns: 100 },
    )
    expect(await ledgerRows()).toBe(0)
  })

  test('shrinks a real server bug to the smallest counterexample and prints its seed and SQL', async () => {
    const failure = await pgProperty(cluster, [amounts], totalMatchesSum, { seed: 42 }).catch(
      (e: unknown) => e,
    )
    expect(failure).toBeInstanceOf(PropertyFailure)
    const { seed, path, counterexample, statements, message } = failure as PropertyFailure<[number[]]>
    expect(seed).toBe(42)
    expect(counterexample).toEqual([[-1]])
    expect(statements).toEqual([
      { text: 'insert into ledger (amount) values ($1)', values: [-1], outcome: '1 row(s)' },
      { text: 'select ledger_total() as total', values: [], outcome: '1 row(s)' },
    ])
    expect(message).toContain('seed: 42')
    expect(message).toContain(`path: "${path}"`)
    expect(message).toContain('Counterexample: [[-1]]')
    expect(message).toContain(
      'SQL of the shrunk counterexample (rolled back):\n' +
        '  1. insert into ledger (amount) values ($1)  -- [-1]\n     → 1 row(s)\n' +
        '  2. select ledger_total() as total\n     → 1 row(s)\n' +
        'and failed with: expected +0 to be -1 // Object.is equality',
    )
    // The seed and path replay the shrunk case straight away.
    const replayed = await pgProperty(cluster, [amounts], totalMatchesSum, { seed, path }).catch(
      (e: unknown) => e,
    )
    expect((replayed as PropertyFailure).counterexample).toEqual([[-1]])
    expect(await ledgerRows()).toBe(0)
  })

  test('a case that fails on a server error reports the SQLSTATE of the statement that failed', async () => {
    const failure = (await pgProperty(
      cluster,
      [fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 5 })],
      async (sql, list) => {
        for (const amount of list) await sql`insert into ledger (amount) values (${amount})`
      },
      { seed: 7 },
    ).catch((e: unknown) => e)) as PropertyFailure<[number[]]>
    expect(failure.counterexample).toEqual([[13]])
    expect(failure.statements.at(-1)?.outcome).toMatch(/^error 23514: .*ledger_amount_check/)
    expect(failure.message).toMatch(/→ error 23514/)
  })

  test('a case that commits is stopped with one line pointing at database isolation', async () => {
    await expect(
      pgProperty(cluster, [fc.integer({ min: 1, max: 9 })], async (sql, amount) => {
        await sql`insert into ledger (amount) values (${amount})`
        await sql`commit`
      }),
    ).rejects.toMatchObject({
      code: 'E_USAGE',
      message: expect.stringMatching(/ended the transaction .* use \{ isolation: 'database' \}/),
    })
    // The first case's row was committed before pgrig could stop it; clean it up for the other tests.
    const client = new pg.Client({ connectionString: cluster.url })
    await client.connect()
    const { rowCount } = await client.query('delete from ledger')
    await client.end()
    expect(rowCount).toBe(1)
  })

  test("isolation 'database': each case gets its own clone, so committed rows never leak", async () => {
    await pgProperty(
      cluster,
      // 14 and up: the ledger refuses 13 (the shrinking test above looks for it), which would fail a case here.
      [fc.integer({ min: 14, max: 100 })],
      async (sql, amount) => {
        await sql`insert into ledger (amount) values (${amount})`
        const { rows } = await sql<{
          n: number
          db: string
        }>`select count(*)::int as n, current_database() as db from ledger`
        return rows[0]!.n === 1 && rows[0]!.db.startsWith('pgrig_prop_')
      },
      { isolation: 'database', numRuns: 5 },
    )
    const client = new pg.Client({ connectionString: cluster.superuser.url })
    await client.connect()
    const { rows } = await client.query(`select datname from pg_database where datname like 'pgrig_prop_%'`)
    await client.end()
    expect(rows).toEqual([])
    expect(await ledgerRows()).toBe(0)
  })
})

describe('@fast-check/vitest test.prop with a savepoint per case', () => {
  let client: pg.Client
  beforeAll(async () => {
    client = new pg.Client({ connectionString: cluster.url })
    await client.connect()
    await client.query('begin')
  })
  afterAll(async () => {
    await client.query('rollback')
    await client.end()
  })

  fcTest.prop([fc.array(fc.integer({ min: 14, max: 1000 }), { maxLength: 6 })], { numRuns: 50 })(
    'credits alone are totalled right, each case on an empty ledger',
    (list) =>
      inSavepoint(client, async (sql) => {
        for (const amount of list) await sql`insert into ledger (amount) values (${amount})`
        const { rows } = await sql<{
          total: string
          n: number
        }>`select ledger_total() as total, (select count(*)::int from ledger) as n`
        expect(rows[0]).toEqual({ total: String(list.reduce((a, b) => a + b, 0)), n: list.length })
      }),
  )
})
