import { describe, expect, test } from 'vitest'
import { fc, test as fcTest } from '@fast-check/vitest'
import { pgError, type ErrorFields } from '../../pg-wire/index.js'
import { classify, splitStatements } from './statements.js'
import { TestTransaction, type Answer, type Control } from './test-transaction.js'

type Client = 'a' | 'b'

/** Runs a control statement to its answer, recording the SQL; `fail` gives the server's error for a SQL text. */
function run(
  control: Control,
  sent: string[],
  fail: (sql: string) => ErrorFields | null = () => null,
): Answer {
  let step = control
  while ('sql' in step) {
    sent.push(step.sql)
    step = step.next(fail(step.sql))
  }
  return step
}

function started(): TestTransaction<Client> {
  const tx = new TestTransaction<Client>()
  tx.begin()
  return tx
}

const nothing = { effects: [], failed: false, completed: 0 }

describe('the test transaction', () => {
  test('a test that never touches the database costs no SQL at all', () => {
    const tx = started()
    expect(tx.rollback()).toBeNull()
    expect(tx.end()).toBe(false)
    expect(tx.testActive).toBe(false)
  })

  test("the test's BEGIN goes out with the first statement, each statement under its own savepoint", () => {
    const tx = started()
    expect(tx.beforeStatements()).toBe('BEGIN; SAVEPOINT pgrig_stmt')
    expect(tx.afterStatements('a', nothing)).toBeNull()
    expect(tx.beforeStatements()).toBe('RELEASE SAVEPOINT pgrig_stmt; SAVEPOINT pgrig_stmt')
    expect(tx.rollback()).toBe('ROLLBACK; SELECT pg_advisory_unlock_all()')
  })

  test('a failed statement outside a transaction is undone alone, as in autocommit', () => {
    const tx = started()
    tx.beforeStatements()
    expect(tx.afterStatements('a', { effects: [], failed: true, completed: 0 })).toBe(
      'ROLLBACK TO SAVEPOINT pgrig_stmt',
    )
  })

  test("a client's BEGIN … COMMIT becomes a savepoint it owns", () => {
    const tx = started()
    const sent: string[] = []
    expect(run(tx.control('a', classify('BEGIN')), sent)).toEqual({ tag: 'BEGIN' })
    expect(sent).toEqual(['BEGIN; SAVEPOINT pgrig_tx'])
    tx.serverStatus = 'T'
    expect(tx.status('a')).toBe('T')
    expect(tx.status('b')).toBe('I')
    expect(tx.beforeStatements()).toBeNull()
    expect(tx.refusal('a')).toBeNull()
    expect(tx.refusal('b')?.M).toMatch(/a second connection ran a statement/)
    // a failed statement inside the client's transaction leaves it failed, as PostgreSQL does
    expect(tx.afterStatements('a', { effects: [], failed: true, completed: 0 })).toBeNull()
    expect(run(tx.control('a', classify('COMMIT')), sent)).toEqual({ tag: 'COMMIT' })
    expect(sent.at(-1)).toBe('RELEASE SAVEPOINT pgrig_tx')
    expect(tx.refusal('b')).toBeNull()
    expect(tx.status('a')).toBe('I')
  })

  test('COMMIT of a failed transaction rolls back, and says so', () => {
    const tx = started()
    const sent: string[] = []
    run(tx.control('a', classify('BEGIN')), sent)
    tx.serverStatus = 'E'
    expect(run(tx.control('a', classify('COMMIT')), sent)).toEqual({ tag: 'ROLLBACK' })
    expect(sent.at(-1)).toBe('ROLLBACK TO SAVEPOINT pgrig_tx; RELEASE SAVEPOINT pgrig_tx')
  })

  test('COMMIT AND CHAIN releases and takes the savepoint again, answered COMMIT', () => {
    const tx = started()
    const sent: string[] = []
    run(tx.control('a', classify('BEGIN')), sent)
    expect(run(tx.control('a', classify('COMMIT AND CHAIN')), sent)).toEqual({ tag: 'COMMIT' })
    expect(sent.slice(1)).toEqual(['RELEASE SAVEPOINT pgrig_tx', 'SAVEPOINT pgrig_tx'])
    expect(tx.refusal('b')).not.toBeNull()
  })

  test('COMMIT/ROLLBACK AND CHAIN outside a transaction fail as PostgreSQL does, and open nothing', () => {
    const tx = started()
    const sent: string[] = []
    for (const kind of ['COMMIT', 'ROLLBACK']) {
      const answer = run(tx.control('a', classify(`${kind} AND CHAIN`)), sent)
      expect(answer.error).toMatchObject({
        C: '25P01',
        M: `${kind} AND CHAIN can only be used in transaction blocks`,
      })
    }
    expect(sent).toEqual([])
    expect(tx.refusal('b')).toBeNull()
    expect(tx.rewrite('select 1; commit and chain').text).toContain("ERRCODE = '25P01'")
  })

  test('BEGIN inside the transaction and COMMIT outside one send nothing', () => {
    const tx = started()
    const sent: string[] = []
    expect(run(tx.control('a', classify('COMMIT')), sent)).toEqual({ tag: 'COMMIT' })
    expect(run(tx.control('a', classify('ROLLBACK')), sent)).toEqual({ tag: 'ROLLBACK' })
    run(tx.control('a', classify('BEGIN')), sent)
    expect(run(tx.control('a', classify('BEGIN')), sent)).toEqual({ tag: 'BEGIN' })
    expect(sent).toEqual(['BEGIN; SAVEPOINT pgrig_tx'])
  })

  test('a savepoint the server refuses leaves the client outside a transaction, with the error', () => {
    const tx = started()
    const error = pgError('25P02', 'current transaction is aborted')
    expect(run(tx.control('a', classify('BEGIN')), [], () => error)).toEqual({ tag: 'BEGIN', error })
    expect(tx.refusal('b')).toBeNull()
  })

  test('what a savepoint cannot honour is refused without SQL', () => {
    const tx = started()
    for (const sql of ['BEGIN ISOLATION LEVEL SERIALIZABLE', 'LISTEN jobs', "PREPARE TRANSACTION 'x'"]) {
      const control = tx.control('a', classify(sql))
      expect('sql' in control).toBe(false)
      expect((control as Answer).error?.C).toBe('0A000')
    }
  })

  test('a client that leaves inside its transaction has it rolled back; another leaving changes nothing', () => {
    const tx = started()
    run(tx.control('a', classify('BEGIN')), [])
    expect(tx.gone('b')).toBeNull()
    expect(tx.gone('a')).toBe('ROLLBACK TO SAVEPOINT pgrig_tx; RELEASE SAVEPOINT pgrig_tx')
    expect(tx.refusal('b')).toBeNull()
  })

  test('the end of a test says whether a client left its transaction open', () => {
    const tx = started()
    run(tx.control('a', classify('BEGIN')), [])
    expect(tx.rollback()).toBe('ROLLBACK; SELECT pg_advisory_unlock_all()')
    expect(tx.end()).toBe(true)
    expect(tx.refusal('a')?.M).toMatch(/outside a test/)
  })

  test('a lost session ends the test with nothing to undo; a fresh one waits for the next test', () => {
    const tx = started()
    tx.beforeStatements()
    tx.lost()
    expect(tx.testActive).toBe(false)
    tx.replaced()
    tx.begin()
    expect(tx.beforeStatements()).toBe('BEGIN; SAVEPOINT pgrig_stmt')
  })

  test('a multi-statement query has its transaction control rewritten in place', () => {
    const tx = started()
    tx.beforeStatements()
    const { text, effects } = tx.rewrite("BEGIN; insert into t values ('a;b'); COMMIT; LISTEN x")
    expect(text.split(';\n')).toEqual([
      'SAVEPOINT pgrig_tx',
      " insert into t values ('a;b')",
      'RELEASE SAVEPOINT pgrig_tx',
      expect.stringMatching(
        /^DO \$pgrig\$BEGIN RAISE EXCEPTION 'pgrig transaction isolation cannot run %; .*'LISTEN x'; END\$pgrig\$$/,
      ),
    ])
    // the query failed at its last statement: BEGIN and COMMIT both ran
    expect(tx.afterStatements('a', { effects, failed: true, completed: 3 })).toBe(
      'ROLLBACK TO SAVEPOINT pgrig_stmt',
    )
  })

  test('a multi-statement query that failed inside its BEGIN leaves the client owning the transaction', () => {
    const tx = started()
    tx.beforeStatements()
    const { effects } = tx.rewrite('BEGIN; select 1/0; COMMIT')
    expect(tx.afterStatements('a', { effects, failed: true, completed: 1 })).toBeNull()
    expect(tx.refusal('b')).not.toBeNull()
    expect(tx.rewrite('BEGIN; ROLLBACK').text).toBe('SELECT WHERE false;\nROLLBACK TO SAVEPOINT pgrig_tx')
  })
})

const statements = fc.constantFrom(
  'BEGIN',
  'COMMIT',
  'ROLLBACK',
  'COMMIT AND CHAIN',
  'ROLLBACK AND CHAIN',
  'START TRANSACTION',
  'END',
)

describe('whatever the clients send', () => {
  fcTest.prop([
    fc.array(fc.tuple(fc.constantFrom<Client>('a', 'b'), statements, fc.boolean()), { maxLength: 30 }),
  ])(
    "no SQL pgrig sends ends the test's transaction, and savepoints are released only when taken",
    (sequence) => {
      const tx = started()
      const ran: string[] = []
      for (const [client, sql, serverFails] of sequence) {
        if (tx.refusal(client)) continue
        const sent: string[] = []
        // the server may refuse a RELEASE (say, the savepoint's work failed): the savepoint stays
        const fail = (s: string) => (serverFails && s.startsWith('RELEASE') ? pgError('XX000', 'no') : null)
        run(tx.control(client, classify(sql)), sent, fail)
        ran.push(...sent.filter((s) => !fail(s)))
      }
      let open = 0
      for (const sql of ran) {
        for (const s of splitStatements(sql)) {
          const text = s.trim()
          expect(classify(text).kind === 'other' || text === 'BEGIN').toBe(true)
          if (text === 'SAVEPOINT pgrig_tx') open++
          if (text === 'RELEASE SAVEPOINT pgrig_tx') open--
          expect(open).toBeGreaterThanOrEqual(0)
          expect(open).toBeLessThanOrEqual(1)
        }
      }
      expect(ran.filter((s) => s.startsWith('BEGIN')).length).toBeLessThanOrEqual(1)
    },
  )
})
