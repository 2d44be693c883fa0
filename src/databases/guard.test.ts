import fs from 'node:fs'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../servers/start-server.js'
import { isPgrigError } from '../errors.js'
import {
  assertExternalAllowed,
  assertOwned,
  assertPostgresUrl,
  cloneDatabaseName,
  markOwned,
  ownerMarker,
  readOwner,
  templateDatabaseName,
  workerDatabaseName,
  type OwnerInfo,
} from './guard.js'
import { quoteIdentifier, quoteLiteral } from '../servers/sql-quote.js'

interface Corpus {
  notPostgresUrls: { url: string; why: string }[]
  postgresUrls: { url: string; why: string }[]
  remoteUrls: { url: string; why: string }[]
  names: {
    name: string
    why: string
    setup: 'builtin' | 'create' | 'none'
    marker?: OwnerInfo
    comment?: string
  }[]
}
const corpus = JSON.parse(
  fs.readFileSync(new URL('./hostile-targets.json', import.meta.url), 'utf8'),
) as Corpus

function codeOf(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    if (isPgrigError(error)) {
      // One line, no secret from the URL.
      expect(error.message).not.toContain('\n')
      expect(error.message).not.toContain('secret')
      return error.code
    }
    throw error
  }
  return 'accepted'
}

describe('assertPostgresUrl', () => {
  test.each(corpus.notPostgresUrls)('refuses $why', ({ url }) => {
    expect(codeOf(() => assertPostgresUrl(url))).toBe('E_NOT_POSTGRES')
  })

  test.each(corpus.postgresUrls)('accepts $why', ({ url }) => {
    expect(codeOf(() => assertPostgresUrl(url))).toBe('accepted')
  })

  test('the message says what, why and what to set', () => {
    expect(() => assertPostgresUrl('sqlite+aiosqlite:///./t.db')).toThrow(
      /^DATABASE_URL is a sqlite\+aiosqlite: URL, not PostgreSQL; .*set DATABASE_URL=postgres:\/\/.* let pgrig start a server$/,
    )
    expect(() => assertPostgresUrl(undefined, 'TEST_DATABASE_URL')).toThrow(/^TEST_DATABASE_URL is empty/)
  })
})

describe('assertExternalAllowed (never contacts the host)', () => {
  test.each(corpus.remoteUrls)('refuses $why without allowExternal', ({ url }) => {
    // A synchronous throw: no DNS lookup or socket can have happened.
    expect(codeOf(() => assertExternalAllowed(url))).toBe('E_UNSAFE_TARGET')
    expect(codeOf(() => assertExternalAllowed(url, { allowExternal: false }))).toBe('E_UNSAFE_TARGET')
  })

  test('names the host and the option to set', () => {
    expect(() => assertExternalAllowed('postgres://a:secret@prod-db.example.invalid:5432/x')).toThrow(
      /^refusing the server at prod-db\.example\.invalid:5432 from DATABASE_URL: pgrig did not start it.*allowExternal: true/,
    )
  })

  test('allowExternal lets a PostgreSQL URL through, but never a non-PostgreSQL one', () => {
    expect(
      assertExternalAllowed('postgres://u@db.example.invalid/app', { allowExternal: true }).hostname,
    ).toBe('db.example.invalid')
    for (const { url } of corpus.notPostgresUrls) {
      expect(codeOf(() => assertExternalAllowed(url, { allowExternal: true }))).toBe('E_NOT_POSTGRES')
    }
  })
})

describe('names and quoting', () => {
  test('pgrig names carry the run id and stay within 63 bytes', () => {
    expect(cloneDatabaseName('abcd1234', 7)).toBe('pgrig_abcd1234_7')
    expect(workerDatabaseName('abcd1234', 2)).toBe('pgrig_abcd1234_w2')
    expect(templateDatabaseName('0123456789abcdef')).toBe('pgrig_tpl_0123456789abcdef')
    expect(codeOf(() => cloneDatabaseName('Run"; --', 1))).toBe('E_UNSAFE_TARGET')
    expect(codeOf(() => cloneDatabaseName('abcd1234', -1))).toBe('E_UNSAFE_TARGET')
    expect(codeOf(() => templateDatabaseName('../../etc'))).toBe('E_UNSAFE_TARGET')
  })

  test('the marker text is exactly the agreed format', () => {
    expect(ownerMarker({ runId: 'abcd1234', kind: 'clone' })).toBe(
      'pgrig {"runId":"abcd1234","kind":"clone"}',
    )
  })

  test('identifiers over 63 bytes are refused instead of silently cut', () => {
    expect(codeOf(() => quoteIdentifier('é'.repeat(32)))).toBe('E_UNSAFE_TARGET')
    expect(quoteIdentifier('é'.repeat(31))).toBe(`"${'é'.repeat(31)}"`)
    expect(quoteIdentifier('a"b')).toBe('"a""b"')
    expect(quoteLiteral("it's")).toBe("'it''s'")
  })
})

describe('ownership marker on a real server', () => {
  let server: StartedServer
  let admin: pg.Client
  const runId = 'zzzzzzzz'

  beforeAll(async () => {
    server = await startServer({ name: 'guard' })
    admin = new pg.Client({ connectionString: server.superuser.url })
    await admin.connect()
    for (const entry of corpus.names) {
      if (entry.setup !== 'create') continue
      await admin.query(`CREATE DATABASE ${quoteIdentifier(entry.name)}`)
      if (entry.marker) await markOwned(admin, entry.name, entry.marker)
      if (entry.comment) {
        await admin.query(
          `COMMENT ON DATABASE ${quoteIdentifier(entry.name)} IS ${quoteLiteral(entry.comment)}`,
        )
      }
    }
  })
  afterAll(async () => {
    await admin?.end()
    await server?.stop()
  })

  test.each(corpus.names)('refuses $why: $name', async ({ name }) => {
    const error: unknown = await assertOwned(admin, name, runId).catch((e: unknown) => e)
    expect(isPgrigError(error) && error.code).toBe('E_UNSAFE_TARGET')
    expect((error as Error).message).toMatch(/pgrig only truncates or drops databases it created itself/)
    expect((error as Error).message).not.toContain('\n')
  })

  test('every hostile database still exists afterwards, and no injected SQL ran', async () => {
    const { rows } = await admin.query<{ datname: string }>('select datname from pg_database')
    const names = rows.map((r) => r.datname)
    for (const entry of corpus.names) {
      if (entry.setup !== 'none') expect(names).toContain(entry.name)
    }
    expect(names).toContain('prod')
  })

  test('marks, reads back and accepts its own databases, even with hostile neighbours', async () => {
    const name = cloneDatabaseName(runId, 6)
    await admin.query(`CREATE DATABASE ${quoteIdentifier(name)}`)
    expect(await readOwner(admin, name)).toBeNull()
    await markOwned(admin, name, { runId, kind: 'clone' })
    expect(await readOwner(admin, name)).toEqual({ runId, kind: 'clone' })
    expect(await assertOwned(admin, name, runId)).toEqual({ runId, kind: 'clone' })
    expect(await assertOwned(admin, name)).toEqual({ runId, kind: 'clone' })
    // The same database seen from another run is not that run's to drop.
    await expect(assertOwned(admin, name, 'otherrun')).rejects.toThrow(
      /^database "pgrig_zzzzzzzz_6" belongs to pgrig run zzzzzzzz, not to this run otherrun; /,
    )
  })

  test('markOwned quotes hostile names: the comment lands on that database only', async () => {
    const hostile = '"; DROP DATABASE prod; --'
    await markOwned(admin, hostile, { runId, kind: 'worker' })
    expect(await readOwner(admin, hostile)).toEqual({ runId, kind: 'worker' })
    expect(await readOwner(admin, 'prod')).toBeNull()
    // Still refused: its name is not a pgrig name, whatever its comment says.
    await expect(assertOwned(admin, hostile, runId)).rejects.toThrow(/is not named like a pgrig database/)
  })
})
