import net from 'node:net'
import path from 'node:path'
import type { Duplex } from 'node:stream'
import pg from 'pg'
import { PgrigError } from '../errors.js'
import { encode } from '../pg-wire/index.js'
import { assertOwned, assertPostgresUrl } from './guard.js'
import { TransactionMultiplexer, type Backend, type ProxyAddress } from './transaction/multiplexer.js'

export interface TransactionIsolationOptions {
  /** URL of the per-worker database (`pgrig_<runId>_w<n>`, marked by pgrig). */
  url: string
  /** The run that created the database; with it, a database of another run is refused. */
  runId?: string
}

export interface TransactionIsolation {
  /**
   * Where the code under test connects: a server inside this process that funnels every
   * connection (node-postgres Client or Pool, postgres.js, anything that speaks PostgreSQL)
   * into the test's one transaction.
   */
  readonly url: string
  /** `DATABASE_URL` and `PG*` variables pointing at `url`. */
  env(): Record<string, string>
  /** Sets `env()` in `process.env` (for code that reads DATABASE_URL); `uninstall()` restores. */
  install(): void
  uninstall(): void
  /** Opens the test's transaction; queries outside beginTest…endTest are refused. */
  beginTest(): Promise<void>
  /** Rolls the test's transaction back; `leftOpen` when the code left its own transaction open. */
  endTest(): Promise<{ leftOpen: boolean }>
  /** Stops the in-process server and closes the session; the database is the pool's to drop. */
  close(): Promise<void>
}

/**
 * Transaction isolation: one database per worker, each test inside one transaction that is
 * rolled back at the end. BEGIN/COMMIT/ROLLBACK sent by the code under test become a savepoint,
 * and statements outside them each run under their own savepoint, so an expected error does
 * not poison the rest of the test.
 */
export async function createTransactionIsolation(
  options: TransactionIsolationOptions,
): Promise<TransactionIsolation> {
  assertPostgresUrl(options.url, 'url')
  const first = await openSession(options)
  const proxy = new TransactionMultiplexer(
    first.backend,
    first.identity,
    async () => (await openSession(options)).backend,
  )
  const address = await proxy.listen()
  const url = proxyUrl(address)
  const saved = new Map<string, string | undefined>()

  const env = (): Record<string, string> => ({
    DATABASE_URL: url,
    PGHOST: address.host,
    PGPORT: String(address.port),
    PGUSER: address.user,
    PGPASSWORD: address.password,
    PGDATABASE: address.database,
    PGSSLMODE: 'disable',
  })

  return {
    url,
    env,
    install() {
      for (const [key, value] of Object.entries(env())) {
        if (!saved.has(key)) saved.set(key, process.env[key])
        process.env[key] = value
      }
    },
    uninstall() {
      for (const [key, value] of saved) {
        if (value === undefined) delete process.env[key]
        else process.env[key] = value
      }
      saved.clear()
    },
    async beginTest() {
      await proxy.beginTest().catch((error: unknown) => {
        throw new PgrigError('E_TRANSACTION_MODE', `transaction isolation: ${(error as Error).message}`, {
          cause: error,
        })
      })
    },
    async endTest() {
      return proxy.endTest().catch((error: unknown) => {
        throw new PgrigError('E_TRANSACTION_MODE', `transaction isolation: ${(error as Error).message}`, {
          cause: error,
        })
      })
    },
    async close() {
      await proxy.close()
    },
  }
}

/**
 * Connects with node-postgres, which does the part that is hard to get right (authentication,
 * TLS), checks the database is pgrig's, then takes the socket over: from here on pgrig speaks
 * the protocol on it itself.
 */
async function openSession(
  options: TransactionIsolationOptions,
): Promise<{ backend: Backend; identity: { user: string; database: string } }> {
  const client = new pg.Client({ connectionString: options.url })
  client.on('error', () => {})
  const parameters: Record<string, string> = {}
  const connection = (client as unknown as { connection: ConnectionInternals }).connection
  connection.on('parameterStatus', (m: { parameterName: string; parameterValue: string }) => {
    parameters[m.parameterName] = m.parameterValue
  })
  let key: { processID: number; secretKey: number } | undefined
  connection.on('backendKeyData', (m: { processID: number; secretKey: number }) => (key = m))
  await client.connect()
  try {
    const { rows } = await client.query<{ user: string; database: string }>(
      'select current_user as user, current_database() as database',
    )
    const identity = rows[0] ?? { user: '', database: '' }
    await assertOwned(client, identity.database, options.runId)
    const stream = connection.stream
    stream.removeAllListeners('data')
    const target = (client as unknown as { connectionParameters: { host: string; port: number } })
      .connectionParameters
    const cancel = () => {
      if (!key) return
      const packet = encode.cancel(key.processID, key.secretKey)
      const socket = target.host.startsWith('/')
        ? net.connect(path.join(target.host, `.s.PGSQL.${target.port}`))
        : net.connect(target.port, target.host)
      socket.on('error', () => {})
      socket.on('connect', () => socket.end(packet))
    }
    return { backend: { stream, parameters, cancel }, identity }
  } catch (error) {
    await client.end().catch(() => {})
    throw error
  }
}

interface ConnectionInternals {
  stream: Duplex
  on(event: string, listener: (message: never) => void): void
}

function proxyUrl(a: ProxyAddress): string {
  return `postgresql://${encodeURIComponent(a.user)}:${encodeURIComponent(a.password)}@${a.host}:${a.port}/${encodeURIComponent(a.database)}?sslmode=disable`
}
