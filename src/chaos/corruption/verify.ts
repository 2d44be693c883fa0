import type pg from 'pg'
import { PgrigError } from '../../errors.js'
import { withAdmin, databaseOf, type AdminTarget } from '../server/admin.js'
import { isNewPage, pageChecksum, storedChecksum } from './page-checksum.js'
import { storedRelations, type StoredRelation } from './relations.js'

export interface Finding {
  /**
   * Which check found it: `heap` (amcheck's verify_heapam), `btree` (bt_index_check or
   * bt_index_parent_check), `read` (the server refused to read a page, e.g. a checksum or header
   * failure while checking), `checksum` (pgrig's scan of the relation files, or the server's
   * pg_stat_database.checksum_failures counter, which has no relation).
   */
  check: 'heap' | 'btree' | 'read' | 'checksum'
  database: string
  relation: string | null
  block: number | null
  /** Line pointer (heap) where amcheck names one. */
  offset: number | null
  message: string
}

export interface VerifyOptions {
  /** The database to check; the target's own by default. */
  database?: string
  /** Also check that every heap tuple has its index entry (slower, more thorough). Default true. */
  heapallindexed?: boolean
  /**
   * Use bt_index_parent_check, which also checks parent/child links but takes a ShareLock (blocks
   * writers) for its duration. Default false: bt_index_check, which only takes AccessShareLock.
   */
  parent?: boolean
  /** Scan relation files for page checksum mismatches (needs data checksums on). Default true. */
  checksums?: boolean
  /** Also check system catalogs. Default false: only objects created after initdb. */
  includeCatalog?: boolean
}

/**
 * Checks a database for corruption with amcheck (heap and B-tree) and page checksums, and
 * returns what it found (an empty list for a sound database). Runs as the superuser: it creates
 * the amcheck extension if missing (and drops it again if it did), and checkpoints before the
 * checksum scan so pages in shared buffers are on disk first.
 */
export async function verify(target: AdminTarget, options: VerifyOptions = {}): Promise<Finding[]> {
  const database = options.database ?? databaseOf(target)
  return withAdmin(
    target,
    async (client) => {
      const { rows: ext } = await client.query(`select 1 from pg_extension where extname = 'amcheck'`)
      if (ext.length === 0) await installAmcheck(client)
      try {
        const relations = await storedRelations(client, options.includeCatalog)
        const findings: Finding[] = []
        for (const relation of relations) {
          if (relation.kind === 'heap') findings.push(...(await checkHeap(client, database, relation)))
          if (relation.kind === 'btree')
            findings.push(...(await checkBtree(client, database, relation, options)))
        }
        if (options.checksums !== false) findings.push(...(await checkChecksums(client, database, relations)))
        return findings
      } finally {
        if (ext.length === 0) await client.query('drop extension if exists amcheck').catch(() => {})
      }
    },
    database,
  )
}

async function installAmcheck(client: pg.Client): Promise<void> {
  try {
    await client.query('create extension amcheck')
  } catch (error) {
    const { code, message } = error as { code?: string; message: string }
    const fix =
      code === '42501'
        ? 'verify needs a superuser connection: pass the StartedServer or its superuser.url'
        : "install the server's contrib modules (Debian: the postgresql-<major> package ships them)"
    throw new PgrigError(
      'E_FAULT_FAILED',
      `verify could not create the amcheck extension (${message}); ${fix}`,
      {
        cause: error,
      },
    )
  }
}

function blockIn(message: string): number | null {
  const match = /\bblock (\d+)/.exec(message)
  return match ? Number(match[1]) : null
}

function readFailure(database: string, relation: StoredRelation, error: unknown): Finding {
  const message = (error as Error).message
  const isRead = /invalid page|checksum|could not read/i.test(message)
  return {
    check: isRead ? 'read' : relation.kind === 'heap' ? 'heap' : 'btree',
    database,
    relation: relation.name,
    block: blockIn(message),
    offset: null,
    message,
  }
}

async function checkHeap(client: pg.Client, database: string, relation: StoredRelation): Promise<Finding[]> {
  try {
    const { rows } = await client.query<{ blkno: string; offnum: number | null; msg: string }>(
      `select blkno, offnum, msg from verify_heapam($1::regclass, on_error_stop => false, check_toast => true)`,
      [relation.oid],
    )
    return rows.map((row) => ({
      check: 'heap',
      database,
      relation: relation.name,
      block: Number(row.blkno),
      offset: row.offnum,
      message: row.msg,
    }))
  } catch (error) {
    return [readFailure(database, relation, error)]
  }
}

async function checkBtree(
  client: pg.Client,
  database: string,
  relation: StoredRelation,
  options: VerifyOptions,
): Promise<Finding[]> {
  const fn = options.parent ? 'bt_index_parent_check' : 'bt_index_check'
  try {
    await client.query(`select ${fn}($1::regclass, $2)`, [relation.oid, options.heapallindexed ?? true])
    return []
  } catch (error) {
    const finding = readFailure(database, relation, error)
    return [finding]
  }
}

const FORKS = ['', '_fsm', '_vm', '_init']
const CHUNK_PAGES = 128

async function checkChecksums(
  client: pg.Client,
  database: string,
  relations: StoredRelation[],
): Promise<Finding[]> {
  const { rows } = await client.query<{ on: string; block_size: string; segment_size: string }>(
    `select current_setting('data_checksums') as on, current_setting('block_size') as block_size,
            (pg_size_bytes(current_setting('segment_size')) / current_setting('block_size')::int)::text as segment_size`,
  )
  const settings = rows[0]!
  if (settings.on !== 'on') return []
  const blockSize = Number(settings.block_size)
  const segmentBlocks = Number(settings.segment_size)
  await client.query('checkpoint')
  const findings: Finding[] = []
  for (const relation of relations) {
    for (const fork of FORKS) {
      for (let segment = 0; ; segment++) {
        const file = `${relation.path}${fork}${segment ? `.${segment}` : ''}`
        const size = await fileSize(client, file)
        if (size === null) break
        for (let offset = 0; offset < size; offset += CHUNK_PAGES * blockSize) {
          const chunk = await readFile(client, file, offset, CHUNK_PAGES * blockSize)
          for (let at = 0; at + blockSize <= chunk.length; at += blockSize) {
            const block = segment * segmentBlocks + (offset + at) / blockSize
            const bad = mismatch(chunk.subarray(at, at + blockSize), block)
            if (!bad) continue
            // A page written while we read it can tear; only a mismatch that stays is a finding.
            const again = mismatch(await readFile(client, file, offset + at, blockSize), block)
            if (!again) continue
            findings.push({
              check: 'checksum',
              database,
              relation: fork ? `${relation.name} (${fork.slice(1)} fork)` : relation.name,
              block,
              offset: null,
              message: `page checksum mismatch in ${file}: stored ${again.stored}, computed ${again.computed}`,
            })
          }
        }
      }
    }
  }
  const { rows: counted } = await client.query<{ failures: string | null; last: Date | null }>(
    `select checksum_failures::text as failures, checksum_last_failure as last
       from pg_stat_database where datname = current_database()`,
  )
  const failures = Number(counted[0]?.failures ?? 0)
  if (failures > 0) {
    findings.push({
      check: 'checksum',
      database,
      relation: null,
      block: null,
      offset: null,
      message: `the server has counted ${failures} checksum failure(s) in this database since its statistics were reset (last at ${counted[0]?.last?.toISOString()})`,
    })
  }
  return findings
}

function mismatch(page: Uint8Array, block: number): { stored: number; computed: number } | undefined {
  if (isNewPage(page)) return undefined
  const stored = storedChecksum(page)
  const computed = pageChecksum(page, block)
  return stored === computed ? undefined : { stored, computed }
}

async function fileSize(client: pg.Client, file: string): Promise<number | null> {
  const { rows } = await client.query<{ size: string | null }>(
    'select (pg_stat_file($1, true)).size::text as size',
    [file],
  )
  return rows[0]?.size == null ? null : Number(rows[0].size)
}

async function readFile(client: pg.Client, file: string, offset: number, length: number): Promise<Buffer> {
  const { rows } = await client.query<{ data: Buffer | null }>(
    'select pg_read_binary_file($1, $2, $3, true) as data',
    [file, offset, length],
  )
  return rows[0]?.data ?? Buffer.alloc(0)
}
