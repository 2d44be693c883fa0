import fs from 'node:fs'
import path from 'node:path'

import type { StartedServer } from '../../servers/start-server.js'
import type pg from 'pg'
import { stopPostmaster } from '../../servers/postmaster.js'
import { PgrigError } from '../../errors.js'
import { withAdmin } from '../server/admin.js'
import { markDestructive } from '../destructive.js'

export type CorruptionKind = 'page-header' | 'zero-page' | 'flip-bytes'

export interface CorruptOptions {
  cluster: Pick<StartedServer, 'superuser' | 'dataDir' | 'pid' | 'restart' | 'name' | 'database'>
  /** The table to damage (its main fork); or give `index`. Schema-qualify as needed. */
  table?: string
  index?: string
  database?: string
  /** Block to damage: 0 for a table, 1 for an index (block 0 is a B-tree's metapage). */
  block?: number
  how: CorruptionKind
  /**
   * `running` (default): CHECKPOINT, evict the relation's pages from shared buffers
   * (pg_buffercache_evict_relation on 18+, pg_buffercache_evict per buffer on 17, a clean restart
   * before 17), then write the file under the running server and evict again; its next read comes
   * from disk. A process that reads the page in between (autovacuum) can race the write.
   * `stopped`: clean shutdown, write the file, start again.
   */
  server?: 'running' | 'stopped'
}

export interface CorruptionReport {
  relation: string
  /** Absolute path of the damaged segment file, and the byte range written in it. */
  file: string
  block: number
  byteOffset: number
  byteLength: number
  how: CorruptionKind
  /** How the server was kept from serving (or writing back) its cached copy of the page. */
  evicted: 'pg_buffercache_evict_relation' | 'pg_buffercache_evict' | 'restart' | 'stopped'
}

interface Located {
  relation: string
  file: string
  block: number
  blockInFile: number
  blockSize: number
}

async function locate(options: CorruptOptions): Promise<Located> {
  const name = options.table ?? options.index
  if (!name || (options.table && options.index)) {
    throw new PgrigError('E_USAGE', 'corrupt needs exactly one of { table } or { index }')
  }
  return withAdmin(
    options.cluster,
    async (client) => {
      const wanted = options.table ? ['r', 'm', 't'] : ['i']
      const { rows } = await client.query<{
        name: string
        relkind: string
        path: string | null
        blocks: string
        block_size: string
        segment: string
      }>(
        `select c.oid::regclass::text as name, c.relkind, pg_relation_filepath(c.oid) as path,
                (pg_relation_size(c.oid) / current_setting('block_size')::int)::text as blocks,
                current_setting('block_size') as block_size,
                (pg_size_bytes(current_setting('segment_size')) / current_setting('block_size')::int)::text as segment
           from pg_class c where c.oid = to_regclass($1)`,
        [name],
      )
      const row = rows[0]
      if (!row || !wanted.includes(row.relkind) || !row.path) {
        throw new PgrigError(
          'E_CORRUPT_TARGET',
          `corrupt: ${options.table ? 'table' : 'index'} ${name} was not found in database ${options.database ?? options.cluster.database}; check the name (schema-qualify it if it is not on the search_path)`,
        )
      }
      const block = options.block ?? (options.index ? 1 : 0)
      const blocks = Number(row.blocks)
      if (!Number.isInteger(block) || block < 0 || block >= blocks) {
        throw new PgrigError(
          'E_CORRUPT_TARGET',
          `corrupt: ${row.name} has ${blocks} block(s), so block ${block} does not exist; insert more rows or pick a block below ${blocks}`,
        )
      }
      const segmentBlocks = Number(row.segment)
      const segment = Math.floor(block / segmentBlocks)
      const relative = segment ? `${row.path}.${segment}` : row.path
      return {
        relation: row.name,
        file: path.isAbsolute(relative) ? relative : path.join(options.cluster.dataDir, relative),
        block,
        blockInFile: block % segmentBlocks,
        blockSize: Number(row.block_size),
      }
    },
    options.database,
  )
}

/** The bytes to write over the page, and where in it. */
function damage(how: CorruptionKind, page: Buffer): { at: number; bytes: Buffer } {
  if (how === 'zero-page') return { at: 0, bytes: Buffer.alloc(page.length) }
  if (how === 'page-header') {
    // pd_lower, pd_upper, pd_special and pd_pagesize_version: no sane page has them all 0xffff.
    return { at: 12, bytes: Buffer.alloc(8, 0xff) }
  }
  // Flip bits in the first tuple (pd_upper): the checksum no longer matches, and with checksums
  // off amcheck sees a damaged tuple header.
  const upper = page.readUInt16LE(14)
  const special = page.readUInt16LE(16)
  const at = upper > 24 && upper < special ? upper : Math.floor(page.length / 2)
  const bytes = Buffer.from(page.subarray(at, at + 16).map((b) => b ^ 0xff))
  return { at, bytes }
}

function writeDamage(target: Located, how: CorruptionKind): { at: number; length: number } {
  const fd = fs.openSync(target.file, 'r+')
  try {
    const base = target.blockInFile * target.blockSize
    const page = Buffer.alloc(target.blockSize)
    fs.readSync(fd, page, 0, target.blockSize, base)
    const { at, bytes } = damage(how, page)
    fs.writeSync(fd, bytes, 0, bytes.length, base + at)
    return { at: base + at, length: bytes.length }
  } finally {
    fs.closeSync(fd)
  }
}

/**
 * Runs `write` once the server holds no copy of the relation's pages: evicted through
 * pg_buffercache where it can (and evicted again after the write, in case something read a page
 * back in between), else after a clean restart, which empties shared buffers.
 */
async function evictAndWrite<T>(
  options: CorruptOptions,
  relation: string,
  write: () => T,
): Promise<{ evicted: CorruptionReport['evicted']; written: T }> {
  const done = await withAdmin(
    options.cluster,
    async (client) => {
      await client.query('checkpoint')
      const { rows } = await client.query<{ available: boolean; installed: boolean }>(
        `select exists (select 1 from pg_available_extensions where name = 'pg_buffercache') as available,
                exists (select 1 from pg_extension where extname = 'pg_buffercache') as installed`,
      )
      if (!rows[0]?.available) return undefined
      const installed = rows[0].installed
      if (!installed) await client.query('create extension pg_buffercache')
      try {
        const fns = await client.query<{ proname: string }>(
          `select proname from pg_proc where proname in ('pg_buffercache_evict_relation', 'pg_buffercache_evict')`,
        )
        const names = new Set(fns.rows.map((r) => r.proname))
        let evict: (() => Promise<pg.QueryResult<{ skipped: number }>>) | undefined
        let evicted: CorruptionReport['evicted'] | undefined
        if (names.has('pg_buffercache_evict_relation')) {
          evicted = 'pg_buffercache_evict_relation'
          evict = () =>
            client.query<{ skipped: number }>(
              'select buffers_skipped::int as skipped from pg_buffercache_evict_relation($1::regclass)',
              [relation],
            )
        } else if (names.has('pg_buffercache_evict')) {
          evicted = 'pg_buffercache_evict'
          evict = () =>
            client.query<{ skipped: number }>(
              `select (count(*) filter (where not pg_buffercache_evict(bufferid)))::int as skipped
                 from pg_buffercache
                where relfilenode = pg_relation_filenode($1::regclass)
                  and reldatabase = (select oid from pg_database where datname = current_database())`,
              [relation],
            )
        }
        if (!evict || !evicted) return undefined
        // A buffer pinned at that moment (the background writer, a reader) is skipped: try again.
        const evictAll = async () => {
          for (let attempt = 0; (await evict!()).rows[0]?.skipped && attempt < 50; attempt++) {
            await new Promise((resolve) => setTimeout(resolve, 10))
          }
        }
        await evictAll()
        const written = write()
        await evictAll()
        return { evicted, written }
      } finally {
        if (!installed) await client.query('drop extension if exists pg_buffercache').catch(() => {})
      }
    },
    options.database,
  )
  if (done) return done
  await options.cluster.restart()
  return { evicted: 'restart', written: write() }
}

/**
 * Deliberately damages one page of a table or index of a pgrig server, so a suite can prove its
 * corruption detection (`verify`, its own checks, alerts) and recovery paths fire. Destructive:
 * the data in that page is gone; use a throwaway server.
 */
export const corrupt = markDestructive(async function corrupt(
  options: CorruptOptions,
): Promise<CorruptionReport> {
  const target = await locate(options)
  let evicted: CorruptionReport['evicted']
  let written: { at: number; length: number }
  if (options.server === 'stopped') {
    await stopPostmaster(options.cluster.pid)
    written = writeDamage(target, options.how)
    // restart() finds the postmaster already down and only starts it.
    await options.cluster.restart()
    evicted = 'stopped'
  } else {
    const result = await evictAndWrite(options, target.relation, () => writeDamage(target, options.how))
    evicted = result.evicted
    written = result.written
  }
  return {
    relation: target.relation,
    file: target.file,
    block: target.block,
    byteOffset: written.at,
    byteLength: written.length,
    how: options.how,
    evicted,
  }
})
