import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { PgrigError } from '../../errors.js'
import type { IsolationLevel } from '../checker/anomalies.js'
import type { WorkloadModel } from '../checker/check.js'
import { outcomeOfError } from '../history/outcome.js'
import { HistoryRecorder } from '../history/recorder.js'
import type { History, MicroOp } from '../history/types.js'
import { type KeyDistribution, TransactionGenerator, seededRandom } from './generator.js'

export type PostgresIsolation = 'read-committed' | 'repeatable-read' | 'serializable'

export interface WorkloadOptions {
  /** Connection URL of the database to run in (e.g. `StartedServer.url`). */
  url: string
  model: WorkloadModel
  isolation: PostgresIsolation
  /** Concurrent clients, each on its own connection (default 4). */
  clients?: number
  /** Transactions to run in total, across clients (default 200). */
  transactions?: number
  /** Active keys at any time (default 8); fewer keys, more conflicts. */
  keys?: number
  distribution?: KeyDistribution
  /** Upper bound of micro-ops per transaction (default 4). */
  maxOpsPerTransaction?: number
  /** List-append: retire a key after this many appends (default 32). */
  maxWritesPerKey?: number
  seed?: number
  /** Table to create; dropped afterwards (default a fresh `pgrig_chaos_<model>_<hex>`). */
  table?: string
}

export interface WorkloadResult {
  history: History
  /** What PostgreSQL promises at the isolation level run, in the checker's vocabulary. */
  guarantee: IsolationLevel
  seed: number
  elapsedMs: number
}

const GUARANTEES: Record<PostgresIsolation, IsolationLevel> = {
  'read-committed': 'read-committed',
  // PostgreSQL's REPEATABLE READ is snapshot isolation: write skew (G2-item) is allowed.
  'repeatable-read': 'snapshot-isolation',
  serializable: 'serializable',
}

const SQL_LEVEL: Record<PostgresIsolation, string> = {
  'read-committed': 'READ COMMITTED',
  'repeatable-read': 'REPEATABLE READ',
  serializable: 'SERIALIZABLE',
}

/**
 * Drives concurrent clients through real transactions and records every invocation and
 * outcome. Nothing is retried: a serialization failure is recorded as `fail`, a lost
 * connection as `info` (the client then reconnects as a new process, as its transaction may
 * still commit).
 */
export async function runWorkload(options: WorkloadOptions): Promise<WorkloadResult> {
  const clients = options.clients ?? 4
  const total = options.transactions ?? 200
  const keys = options.keys ?? 8
  const seed = options.seed ?? randomBytes(4).readUInt32LE()
  const level = SQL_LEVEL[options.isolation]
  if (!level) {
    throw new PgrigError(
      'E_USAGE',
      `Unknown isolation ${JSON.stringify(options.isolation)}; use 'read-committed', 'repeatable-read' or 'serializable'.`,
    )
  }
  if (options.model !== 'list-append' && options.model !== 'rw-register') {
    throw new PgrigError(
      'E_USAGE',
      `Unknown model ${JSON.stringify(options.model)}; use 'list-append' or 'rw-register'.`,
    )
  }
  for (const [name, value] of [
    ['clients', clients],
    ['transactions', total],
    ['keys', keys],
  ] as const) {
    if (!Number.isInteger(value) || value < 1) {
      throw new PgrigError(
        'E_USAGE',
        `Workload option ${name} must be a positive integer, got ${String(value)}.`,
      )
    }
  }
  const distribution = options.distribution ?? 'uniform'
  if (distribution !== 'uniform' && distribution !== 'exponential') {
    throw new PgrigError(
      'E_USAGE',
      `Unknown key distribution ${JSON.stringify(distribution)}; use 'uniform' or 'exponential'.`,
    )
  }
  const table =
    options.table ?? `pgrig_chaos_${options.model.replace('-', '_')}_${randomBytes(4).toString('hex')}`
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(table)) {
    throw new PgrigError(
      'E_USAGE',
      `Workload table name ${JSON.stringify(table)} must be a lowercase SQL identifier.`,
    )
  }
  const generator = new TransactionGenerator({
    keys,
    distribution,
    maxOpsPerTransaction: options.maxOpsPerTransaction ?? 4,
    maxWritesPerKey: options.maxWritesPerKey ?? 32,
    random: seededRandom(seed),
  })
  const statements = sqlFor(options.model, table)

  const admin = new pg.Client({ connectionString: options.url })
  // Idle while the workload runs: a server killed meanwhile must fail its last query, not crash the process.
  admin.on('error', () => {})
  await admin.connect()
  const started = performance.now()
  const recorder = new HistoryRecorder()
  try {
    await admin.query(statements.create)
    let remaining = total
    let nextProcess = 0
    const worker = async (): Promise<void> => {
      let client: pg.Client | undefined
      let process = nextProcess++
      try {
        while (remaining > 0) {
          remaining--
          if (!client) {
            client = new pg.Client({ connectionString: options.url })
            // A dropped connection surfaces on the next query; the listener only keeps it from crashing the process.
            client.on('error', () => {})
            await client.connect()
          }
          const ops = options.model === 'list-append' ? generator.listAppend() : generator.register()
          const pending = recorder.invoke(process, ops)
          try {
            await client.query(`BEGIN ISOLATION LEVEL ${level}`)
            const completed: MicroOp[] = []
            for (const op of ops) completed.push(await statements.run(client, op))
            await client.query('COMMIT')
            pending.ok(completed)
          } catch (error) {
            if (outcomeOfError(error) === 'fail') {
              pending.fail(error)
              await client.query('ROLLBACK').catch(() => {})
            } else {
              pending.info(error)
              await client.end().catch(() => {})
              client = undefined
              process = nextProcess++
            }
          }
        }
      } finally {
        await client?.end().catch(() => {})
      }
    }
    await Promise.all(Array.from({ length: clients }, worker))
    return {
      history: recorder.history,
      guarantee: GUARANTEES[options.isolation],
      seed,
      elapsedMs: performance.now() - started,
    }
  } finally {
    await admin.query(`DROP TABLE IF EXISTS ${table}`).catch(() => {})
    await admin.end()
  }
}

interface Statements {
  create: string
  run(client: pg.Client, op: MicroOp): Promise<MicroOp>
}

function sqlFor(model: WorkloadModel, table: string): Statements {
  if (model === 'list-append') {
    return {
      create: `CREATE TABLE ${table} (k bigint PRIMARY KEY, v bigint[] NOT NULL)`,
      async run(client, op) {
        if (op[0] === 'append') {
          // The concatenation runs on the newest row version, so appends never overwrite each other.
          await client.query(
            `INSERT INTO ${table} AS t (k, v) VALUES ($1, ARRAY[$2::bigint]) ON CONFLICT (k) DO UPDATE SET v = t.v || EXCLUDED.v`,
            [op[1], op[2]],
          )
          return op
        }
        const { rows } = await client.query<{ v: string[] }>(`SELECT v FROM ${table} WHERE k = $1`, [op[1]])
        return ['r', op[1], (rows[0]?.v ?? []).map(Number)]
      },
    }
  }
  return {
    create: `CREATE TABLE ${table} (k bigint PRIMARY KEY, v bigint NOT NULL)`,
    async run(client, op) {
      if (op[0] === 'w') {
        await client.query(
          `INSERT INTO ${table} (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = EXCLUDED.v`,
          [op[1], op[2]],
        )
        return op
      }
      const { rows } = await client.query<{ v: string }>(`SELECT v FROM ${table} WHERE k = $1`, [op[1]])
      return ['r', op[1], rows[0] ? Number(rows[0].v) : null]
    },
  }
}
