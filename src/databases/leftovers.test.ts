import { afterAll, beforeAll, expect, test } from 'vitest'
import { startServer, type StartedServer } from '../servers/start-server.js'
import { privateRunRoot } from '../../test/support/run-root.js'
import { withClient } from './admin.js'
import { BIRTH_OPTIONS, markBorn, ownerMarker } from './guard.js'
import { dropLeftovers } from './leftovers.js'

privateRunRoot('leftovers')

let pgc: StartedServer
beforeAll(async () => {
  pgc = await startServer({ name: 'leftovers-test', quiet: true })
})
afterAll(() => pgc?.stop())

const sql = (text: string) => withClient(pgc.superuser.url, async (c) => (await c.query(text)).rows)
const marked = async (name: string, runId: string, kind: 'clone' | 'worker' | 'template') => {
  await sql(`create database ${name}`)
  await sql(`comment on database ${name} is '${ownerMarker({ runId, kind })}'`)
}
const present = async () =>
  (
    (await sql("select datname from pg_database where datname like 'pgrig%' order by datname")) as {
      datname: string
    }[]
  ).map((r) => r.datname)

test('the sweep drops only databases named by the rule whose marker (or birth marks) agree with the name', async () => {
  // dropped: marked clone and worker of a dead run; databases their creator left in the birth state
  await marked('pgrig_deadrun_1', 'deadrun', 'clone')
  await marked('pgrig_deadrun_w1', 'deadrun', 'worker')
  await sql(`create database pgrig_deadrun_2 ${BIRTH_OPTIONS}`)
  await sql(`create database pgrig_tplb_0123456789abcdef_deadrun ${BIRTH_OPTIONS}`)
  // kept: a name outside the rule with a clone marker; a marker that names another run or kind;
  // an unmarked database with a pgrig-like name; no connections but not pgrig's connection limit
  await marked('pgrig_important', 'deadrun', 'clone')
  await marked('pgrig_deadrun_3', 'otherrun', 'clone')
  await marked('pgrig_deadrun_4', 'deadrun', 'worker')
  await sql('create database pgrig_deadrun_5')
  await sql('create database pgrig_deadrun_6 allow_connections false')
  // a live run's clone stays
  await marked('pgrig_liverun_1', 'liverun', 'clone')

  const dropped = await dropLeftovers(pgc.superuser.url, (runId) => runId === 'liverun')
  expect(dropped.sort()).toEqual([
    'pgrig_deadrun_1',
    'pgrig_deadrun_2',
    'pgrig_deadrun_w1',
    'pgrig_tplb_0123456789abcdef_deadrun',
  ])
  expect(await present()).toEqual([
    'pgrig_deadrun_3',
    'pgrig_deadrun_4',
    'pgrig_deadrun_5',
    'pgrig_deadrun_6',
    'pgrig_important',
    'pgrig_liverun_1',
  ])
  for (const name of await present()) {
    if (name === 'pgrig_deadrun_6') await sql(`alter database ${name} allow_connections true`)
    await sql(`drop database ${name}`)
  }
})

test('a born database gets its marker and opens to connections in one step', async () => {
  await sql(`create database pgrig_bornrun_1 ${BIRTH_OPTIONS}`)
  await withClient(pgc.superuser.url, (c) =>
    markBorn(c, 'pgrig_bornrun_1', { runId: 'bornrun', kind: 'clone' }),
  )
  const [row] = (await sql(
    "select datallowconn, datconnlimit, shobj_description(oid, 'pg_database') as comment from pg_database where datname = 'pgrig_bornrun_1'",
  )) as { datallowconn: boolean; datconnlimit: number; comment: string }[]
  expect(row).toEqual({
    datallowconn: true,
    datconnlimit: -1,
    comment: ownerMarker({ runId: 'bornrun', kind: 'clone' }),
  })
  await sql('drop database pgrig_bornrun_1')
})
