import { afterAll, beforeAll, expect, test } from 'vitest'
import { startServer, type StartedServer } from './start-server.js'
import { SCRAM_ITERATIONS } from './password-verifier.js'
import { query } from '../../test/support/query.js'
import { privateRunRoot } from '../../test/support/run-root.js'

privateRunRoot('password-verifier')

let pgc: StartedServer
beforeAll(async () => {
  // The app user's password is chosen; the superuser's is generated.
  pgc = await startServer({ name: 'scram-iterations', password: 'a password someone chose', quiet: true })
})
afterAll(() => pgc?.stop())

test('generated and chosen passwords are both stored with the default 4096 SCRAM iterations; both log in over TCP', async () => {
  const stored = await query<{ rolname: string; iterations: string }>(
    pgc.superuser.url,
    "select rolname, split_part(split_part(rolpassword, '$', 2), ':', 1) as iterations from pg_authid where rolpassword like 'SCRAM-SHA-256$%' order by rolname",
  )
  expect(stored).toEqual([
    { rolname: pgc.user, iterations: '4096' },
    // Generated: clients such as Go's lib/pq refuse fewer iterations than 4096.
    { rolname: pgc.info.superuser.user, iterations: String(SCRAM_ITERATIONS) },
  ])
  expect(new URL(pgc.superuser.url).hostname).toBe('127.0.0.1')
  expect(await query(pgc.superuser.url, 'select 1 as one')).toEqual([{ one: 1 }])
  expect(await query(pgc.url, 'select 1 as one')).toEqual([{ one: 1 }])
  // Still a password check: a wrong one is refused.
  const wrong = new URL(pgc.superuser.url)
  wrong.password = 'not-it'
  await expect(query(wrong.toString(), 'select 1')).rejects.toThrow(/password authentication failed/)
})
