import type { Arbitrary, IAsyncProperty, Parameters, RunDetails } from 'fast-check'
import pg from 'pg'
import { PgrigError } from '../../errors.js'
import { quoteIdentifier } from '../../servers/sql-quote.js'
import { formatStatements, recordingSql, type Sql, type Statement } from './recording-sql.js'
import { editLibpqUrl, parseLibpqUrl } from '../../servers/libpq-url.js'

/**
 * `savepoint` (default): one connection, one transaction; each case runs between
 * `SAVEPOINT` and `ROLLBACK TO SAVEPOINT`, so nothing a case does reaches the next (costs about
 * what the body's own statements cost; see bench/chaos.mjs). The body must not COMMIT. `database`: each case gets a fresh database cloned with
 * `CREATE DATABASE … TEMPLATE`, dropped afterwards, for code that commits or opens its own
 * connections (a create, a connect and a drop per case: ~30 ms on a quiet 2-core machine,
 * over 100 ms on a busy one; bench/chaos.mjs measures it).
 */
export type CaseIsolation = 'savepoint' | 'database'

export interface PgPropertyOptions<Ts> extends Parameters<Ts> {
  isolation?: CaseIsolation
  /** database isolation: the database to clone; the URL's own by default. It must have no open sessions. */
  template?: string
}

/** A server target: a URL (savepoint isolation only) or anything with `url` and `superuser.url`. */
export type PropertyTarget = string | { url: string; superuser?: { url: string } }

/** A failed property: fast-check's report (seed, path, counterexample) plus the shrunk case's SQL. */
export class PropertyFailure<Ts = unknown> extends Error {
  override readonly name = 'PropertyFailure'
  constructor(
    message: string,
    readonly seed: number,
    readonly path: string,
    readonly counterexample: Ts,
    /** Statements the shrunk (smallest failing) case ran, in order. */
    readonly statements: readonly Statement[],
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

type Arbitraries<Ts extends unknown[]> = { [K in keyof Ts]: Arbitrary<Ts[K]> }
type Body<Ts extends unknown[]> = (sql: Sql, ...values: Ts) => Promise<boolean | void>

/**
 * Runs a fast-check property against a real database: each generated case runs isolated (see
 * `CaseIsolation`), shrinking works as usual, and on failure it throws a `PropertyFailure` whose
 * message has the seed and path to replay (`{ seed, path }` in the options) and the SQL the shrunk
 * counterexample ran. fast-check is an optional peer dependency, loaded on first use.
 */
export async function pgProperty<Ts extends [unknown, ...unknown[]]>(
  target: PropertyTarget,
  arbitraries: Arbitraries<Ts>,
  body: Body<Ts>,
  options: PgPropertyOptions<Ts> = {},
): Promise<void> {
  const fc = await loadFastCheck()
  const { isolation = 'savepoint', template, ...parameters } = options
  const runner =
    isolation === 'database' ? await databaseCases(target, template) : await savepointCases(target)
  let lastFailing: readonly Statement[] = []
  // asyncProperty's overloads want a literal tuple; the arbitraries array is one at run time.
  const asyncProperty = fc.asyncProperty as unknown as (...args: unknown[]) => IAsyncProperty<unknown[]>
  // A broken harness (not a failing case) stops the run: later cases pass untried, and it is thrown.
  let fatal: unknown
  const property = asyncProperty(...arbitraries, async (...values: unknown[]) => {
    if (fatal !== undefined) return true
    let outcome: { ok: boolean; error?: unknown; statements: readonly Statement[] }
    try {
      outcome = await runner.run(async (sql) => {
        try {
          return { ok: (await body(sql, ...(values as Ts))) !== false, statements: sql.statements }
        } catch (error) {
          return { ok: false, error, statements: sql.statements }
        }
      })
    } catch (error) {
      fatal = error
      return true
    }
    if (outcome.ok) return true
    // fast-check's last failing run is the shrunk counterexample it reports.
    lastFailing = [...outcome.statements]
    if (outcome.error !== undefined) throw outcome.error
    return false
  })
  let details: RunDetails<Ts>
  try {
    details = (await fc.check(property, parameters as Parameters<unknown[]>)) as unknown as RunDetails<Ts>
  } finally {
    await runner.close()
  }
  if (fatal !== undefined) throw fatal
  if (!details.failed) return
  const report = fc.defaultReportMessage(details)
  const cause = details.errorInstance
  const reason =
    cause === undefined || cause === null
      ? 'the property returned false'
      : cause instanceof Error
        ? cause.message.split('\n')[0]
        : String(cause)
  throw new PropertyFailure(
    `${report}\n\nSQL of the shrunk counterexample (${isolation === 'database' ? 'in a throwaway database' : 'rolled back'}):\n${formatStatements(lastFailing)}\nand failed with: ${reason}`,
    details.seed,
    details.counterexamplePath ?? '',
    details.counterexample as Ts,
    lastFailing,
    { cause: details.errorInstance },
  )
}

async function loadFastCheck(): Promise<typeof import('fast-check')> {
  try {
    const module = await import('fast-check')
    return (module as unknown as { default?: typeof import('fast-check') }).default ?? module
  } catch (error) {
    throw new PgrigError(
      'E_USAGE',
      'pgProperty needs fast-check, which is not installed; add it with npm install -D fast-check',
      { cause: error },
    )
  }
}

interface CaseRunner {
  run<T extends { ok: boolean }>(work: (sql: Sql) => Promise<T>): Promise<T>
  close(): Promise<void>
}

function urlOf(target: PropertyTarget): string {
  return typeof target === 'string' ? target : target.url
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: 'pgrig-property' })
  client.on('error', () => {})
  await client.connect()
  return client
}

async function savepointCases(target: PropertyTarget): Promise<CaseRunner> {
  const client = await connect(urlOf(target))
  await client.query('begin')
  return {
    async run(work) {
      await client.query('savepoint pgrig_case')
      try {
        return await work(recordingSql(client))
      } finally {
        await client.query('rollback to savepoint pgrig_case').catch((error: { code?: string }) => {
          // 3B001 / 25P01: the case's own COMMIT or ROLLBACK ended the transaction holding the savepoint.
          if (error.code !== '3B001' && error.code !== '25P01') throw error
          throw new PgrigError(
            'E_USAGE',
            "a pgProperty case ended the transaction it runs in (COMMIT or ROLLBACK), so its changes were not rolled back; use { isolation: 'database' } for code that commits",
            { cause: error },
          )
        })
        await client.query('release savepoint pgrig_case')
      }
    },
    async close() {
      await client.query('rollback').catch(() => {})
      await client.end().catch(() => {})
    },
  }
}

async function databaseCases(target: PropertyTarget, template: string | undefined): Promise<CaseRunner> {
  if (typeof target === 'string' || !target.superuser) {
    throw new PgrigError(
      'E_USAGE',
      "pgProperty with isolation 'database' needs a server with a superuser URL (a StartedServer), to create and drop a database per case",
    )
  }
  const appUrl = parseLibpqUrl(target.url)
  const source = template ?? decodeURIComponent(appUrl.pathname.slice(1))
  const admin = await connect(target.superuser.url)
  let n = 0
  return {
    async run(work) {
      const name = `pgrig_prop_${process.pid}_${++n}`
      await admin.query(
        `create database ${quoteIdentifier(name)} template ${quoteIdentifier(source)} owner ${quoteIdentifier(decodeURIComponent(appUrl.username))}`,
      )
      const url = editLibpqUrl(target.url, (edited) => {
        edited.pathname = `/${name}`
      })
      try {
        const client = await connect(url)
        try {
          return await work(recordingSql(client))
        } finally {
          await client.end().catch(() => {})
        }
      } finally {
        await admin.query(`drop database if exists ${quoteIdentifier(name)} with (force)`)
      }
    },
    async close() {
      await admin.end().catch(() => {})
    },
  }
}
