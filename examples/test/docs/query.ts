import pg from 'pg'

/** Runs SQL on a connection of its own and returns the (last statement's) rows. */
export async function query<Row = Record<string, unknown>>(url: string, text: string): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url })
  client.on('error', () => {})
  await client.connect()
  try {
    const result = (await client.query(text)) as unknown as pg.QueryResult | pg.QueryResult[]
    return (Array.isArray(result) ? result.at(-1)!.rows : result.rows) as Row[]
  } finally {
    await client.end().catch(() => {})
  }
}
