import pg from 'pg'

/** One short-lived connection: for the rare admin steps that are not on a test's critical path. */
export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url })
  // A server shutting down under us surfaces as a rejected query; the idle event must not crash the process.
  client.on('error', () => {})
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end().catch(() => {})
  }
}
