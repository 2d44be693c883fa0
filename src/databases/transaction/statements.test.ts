import { describe, expect, test } from 'vitest'
import { classify, raising, splitStatements } from './statements.js'

describe('classify', () => {
  test.each([
    ['BEGIN', 'begin'],
    ['begin;', 'begin'],
    ['  Begin Work ; ', 'begin'],
    ['START TRANSACTION', 'begin'],
    ['start transaction read write', 'begin'],
    ['/* app */ BEGIN -- trailing\n', 'begin'],
    ['COMMIT', 'commit'],
    ['END', 'commit'],
    ['commit transaction', 'commit'],
    ['ROLLBACK', 'rollback'],
    ['abort', 'rollback'],
    ['rollback work', 'rollback'],
    ['PREPARE TRANSACTION $$x$$', 'two-phase'],
    ['COMMIT PREPARED $$x$$', 'two-phase'],
    ['LISTEN jobs', 'listen'],
    ['unlisten *', 'listen'],
    ['ROLLBACK TO SAVEPOINT sp', 'other'],
    ['rollback to sp', 'other'],
    ['SAVEPOINT sp', 'other'],
    ['RELEASE SAVEPOINT sp', 'other'],
    ['select 1 as begin', 'other'],
    ['beginning', 'other'],
    ['select $$BEGIN$$', 'other'],
    ['endpoint', 'other'],
  ])('%j is %s', (sql, kind) => {
    expect(classify(sql).kind).toBe(kind)
  })

  test('modes a savepoint cannot honour are reported; harmless ones are not', () => {
    expect(classify('BEGIN ISOLATION LEVEL SERIALIZABLE')).toEqual({
      kind: 'begin',
      unsupportedMode: 'isolation level serializable',
    })
    expect(classify('begin read only')).toEqual({ kind: 'begin', unsupportedMode: 'read only' })
    expect(classify('start transaction isolation level read committed, read write')).toEqual({
      kind: 'begin',
      unsupportedMode: null,
    })
  })

  test('AND CHAIN is recognised, AND NO CHAIN is a plain end', () => {
    expect(classify('commit and chain')).toEqual({ kind: 'commit', chain: true })
    expect(classify('commit and no chain')).toEqual({ kind: 'commit', chain: false })
    expect(classify('rollback and chain')).toEqual({ kind: 'rollback', chain: true })
  })
})

describe('splitStatements', () => {
  test('splits at top-level semicolons only', () => {
    expect(
      splitStatements(`begin; insert into t values ('a;b', "c;d", $$e;f$$, $x$g;$$h$x$); commit`),
    ).toEqual(['begin', ` insert into t values ('a;b', "c;d", $$e;f$$, $x$g;$$h$x$)`, ' commit'])
  })

  test('comments, escaped quotes and empty statements', () => {
    expect(
      splitStatements(`select 'it''s;'; -- a; comment\nselect E'\\';'; /* x; /* nested; */ */ ;;`),
    ).toEqual([`select 'it''s;'`, ` -- a; comment\nselect E'\\';'`])
  })

  test('a function body with BEGIN … END stays one statement', () => {
    const body = `create function f() returns int language plpgsql as $fn$ begin return 1; end $fn$`
    expect(splitStatements(body)).toEqual([body])
    expect(classify(body).kind).toBe('other')
  })
})

describe('raising', () => {
  test('one statement whose quotes hold: the format and the start of the statement, quotes doubled', () => {
    const sql = raising("can't run %", "LISTEN \"it's\"; -- 'x'")
    expect(sql).toBe(`DO $pgrig$BEGIN RAISE EXCEPTION 'can''t run %', 'LISTEN "it''s"; -- ''x'''; END$pgrig$`)
    expect(splitStatements(sql)).toEqual([sql])
  })

  test('only the first 40 characters of the statement, trimmed', () => {
    expect(raising('%', `  ${'x'.repeat(50)}`)).toContain(`'${'x'.repeat(40)}'`)
  })
})
