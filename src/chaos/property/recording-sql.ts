import type pg from 'pg'

/** One statement a case ran, with its parameters and what came of it. */
export interface Statement {
  text: string
  values: unknown[]
  /** `N row(s)` or `error <SQLSTATE>: <message>`. */
  outcome: string
}

/**
 * What a property body gets: `` sql`select ${x}` `` (values become parameters) or
 * `sql.query(text, values)`, both returning node-postgres results; every call is logged for
 * the failure report.
 */
export interface Sql {
  <R extends pg.QueryResultRow = Record<string, unknown>>(
    strings: TemplateStringsArray,
    ...values: unknown[]
  ): Promise<pg.QueryResult<R>>
  query<R extends pg.QueryResultRow = Record<string, unknown>>(
    text: string,
    values?: unknown[],
  ): Promise<pg.QueryResult<R>>
  /** The statements this case has run so far. */
  readonly statements: readonly Statement[]
}

export function recordingSql(client: pg.Client): Sql {
  const statements: Statement[] = []
  const query = async <R extends pg.QueryResultRow>(text: string, values: unknown[] = []) => {
    const statement: Statement = { text, values, outcome: 'running' }
    statements.push(statement)
    try {
      const result = await client.query<R>(text, values)
      statement.outcome = `${result.rowCount ?? result.rows.length} row(s)`
      return result
    } catch (error) {
      const { code, message } = error as { code?: string; message: string }
      statement.outcome = `error ${code ?? '?'}: ${message}`
      throw error
    }
  }
  const tagged = <R extends pg.QueryResultRow>(strings: TemplateStringsArray, ...values: unknown[]) =>
    query<R>(
      strings.reduce((text, part, i) => `${text}$${i}${part}`),
      values,
    )
  return Object.assign(tagged, { query, statements }) as Sql
}

export function formatStatements(statements: readonly Statement[]): string {
  if (statements.length === 0) return '  (no statements)'
  return statements
    .map((s, i) => {
      const values = s.values.length ? `  -- ${JSON.stringify(s.values)}` : ''
      return `  ${i + 1}. ${s.text.replace(/\s+/g, ' ').trim()}${values}\n     → ${s.outcome}`
    })
    .join('\n')
}
