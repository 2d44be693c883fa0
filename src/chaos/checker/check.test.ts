import { describe, expect, test } from 'vitest'
import { isPgrigError } from '../../errors.js'
import { HistoryRecorder } from '../history/recorder.js'
import {
  append,
  type History,
  type HistoryEvent,
  type MicroOp,
  type Outcome,
  read,
  write,
} from '../history/types.js'
import { check, formatCheckResult } from './check.js'

/** Each entry is one transaction on its own process; outcome defaults to ok. */
function history(...txns: (readonly MicroOp[] | [readonly MicroOp[], Outcome])[]): History {
  const events: HistoryEvent[] = []
  let time = 0
  for (const [process, entry] of txns.entries()) {
    const [ops, outcome]: [readonly MicroOp[], Outcome] =
      typeof entry[1] === 'string' ? (entry as [MicroOp[], Outcome]) : [entry as MicroOp[], 'ok']
    events.push({ type: 'invoke' as const, process, time: time++, value: ops })
    events.push({ type: outcome, process, time: time++, value: ops })
  }
  return events
}

describe('list-append histories', () => {
  const la = (h: History) => check(h, { model: 'list-append' })

  test('a serial history has no findings', () => {
    const result = la(
      history(
        [append('x', 1)],
        [read('x', [1]), append('x', 2), append('y', 1)],
        [read('x', [1, 2]), read('y', [1])],
        [[append('x', 3)], 'fail'],
        [read('x', [1, 2])],
      ),
    )
    expect(result.anomalies).toEqual([])
    expect(result.valid).toBe(true)
    expect(result.transactions).toEqual({ total: 5, ok: 4, fail: 1, info: 0 })
  })

  test('G0: two writers install their appends in opposite orders on two keys', () => {
    const result = la(
      history(
        [append('x', 1), append('y', 1)],
        [append('x', 2), append('y', 2)],
        [read('x', [1, 2]), read('y', [2, 1])],
      ),
    )
    expect(result.anomalyTypes).toEqual(['G0'])
    expect(result.anomalies[0]!.description).toBe('T0 —ww(x)→ T1 —ww(y)→ T0')
    expect(result.violates).toContain('read-uncommitted')
  })

  test('G1a: a committed read sees an aborted append', () => {
    const result = la(history([[append('x', 1)], 'fail'], [read('x', [1])]))
    expect(result.anomalyTypes).toEqual(['G1a'])
    expect(result.anomalies[0]!.description).toBe('T1 read 1 in x, appended by T0 which aborted')
    expect(result.violates).toEqual([
      'read-committed',
      'snapshot-isolation',
      'repeatable-read',
      'serializable',
      'strict-serializable',
    ])
  })

  test('G1b: a read ends at an append its writer later extended', () => {
    const result = la(history([append('x', 1), append('x', 2)], [read('x', [1])], [read('x', [1, 2])]))
    expect(result.anomalyTypes).toEqual(['G1b'])
    expect(result.anomalies[0]!.transactions.map((t) => t.id)).toEqual([1, 0])
  })

  test('G1c: two transactions each read the other one’s append', () => {
    const result = la(history([append('x', 1), read('y', [1])], [append('y', 1), read('x', [1])]))
    expect(result.anomalyTypes).toEqual(['G1c'])
    expect(result.anomalies[0]!.description).toBe('T0 —wr(x)→ T1 —wr(y)→ T0')
    expect(result.valid).toBe(false)
  })

  test('G-single: read skew, a reader sees one of two appends of the same transaction', () => {
    const result = la(
      history([read('x', []), read('y', [1])], [append('x', 1), append('y', 1)], [read('x', [1])]),
    )
    expect(result.anomalyTypes).toEqual(['G-single'])
    expect(result.anomalies[0]!.description).toBe('T0 —rw(x)→ T1 —wr(y)→ T0')
    expect(result.violates).not.toContain('read-committed')
  })

  test('G2-item: write skew, each transaction misses the other one’s append', () => {
    const h = history(
      [read('x', []), append('y', 1)],
      [read('y', []), append('x', 1)],
      [read('x', [1]), read('y', [1])],
    )
    const result = la(h)
    expect(result.anomalyTypes).toEqual(['G2-item'])
    expect(result.anomalies[0]!.cycle!.map((s) => s.type)).toEqual(['rw', 'rw'])
    expect(check(h, { model: 'list-append', isolation: 'snapshot-isolation' }).valid).toBe(true)
    expect(check(h, { model: 'list-append', isolation: 'serializable' }).valid).toBe(false)
  })

  test('lost update: two transactions read the same list and both append to it', () => {
    const result = la(
      history([read('x', []), append('x', 1)], [read('x', []), append('x', 2)], [read('x', [1, 2])]),
    )
    expect(result.anomalyTypes).toContain('lost-update')
    const lost = result.anomalies.find((a) => a.type === 'lost-update')!
    expect(lost.description).toBe('T0, T1 all read x = [] and then appended to it')
    expect(result.violates).not.toContain('read-committed')
  })

  test('reads that disagree on the order of appends are reported', () => {
    const result = la(history([append('x', 1)], [append('x', 2)], [read('x', [1, 2])], [read('x', [2])]))
    expect(result.anomalyTypes).toEqual(['incompatible-order'])
  })

  test('a value appended twice is refused as an unusable history, in one line', () => {
    expect(() => la(history([append('x', 1)], [append('x', 1)]))).toThrow(
      /both appended 1 to x.*unique per key/,
    )
  })
})

describe('read-write register histories', () => {
  const rw = (h: History) => check(h, { model: 'rw-register' })

  test('a serial read-modify-write history has no findings', () => {
    const result = rw(
      history(
        [read('x', null), write('x', 1)],
        [read('x', 1), write('x', 2), read('x', 2)],
        [read('x', 2), read('y', null)],
        [[write('y', 9)], 'fail'],
      ),
    )
    expect(result.anomalies).toEqual([])
  })

  test('G1a: a committed read sees an aborted write', () => {
    expect(rw(history([[write('x', 1)], 'fail'], [read('x', 1)])).anomalyTypes).toEqual(['G1a'])
  })

  test('G1b: a committed read sees an intermediate write', () => {
    expect(rw(history([write('x', 1), write('x', 2)], [read('x', 1)])).anomalyTypes).toEqual(['G1b'])
  })

  test('G1c: circular information flow', () => {
    const result = rw(history([write('x', 1), read('y', 1)], [write('y', 1), read('x', 1)]))
    expect(result.anomalyTypes).toEqual(['G1c'])
  })

  test('G-single: read skew across two keys', () => {
    const result = rw(
      history(
        [read('x', null), read('y', null), write('x', 1), write('y', 1)],
        [read('x', 1), read('y', 1), write('x', 2), write('y', 2)],
        [read('x', 1), read('y', 2)],
      ),
    )
    expect(result.anomalyTypes).toEqual(['G-single'])
    expect(result.anomalies[0]!.description).toBe('T1 —wr(y)→ T2 —rw(x)→ T1')
  })

  test('G2-item: write skew, each reads both keys and writes one', () => {
    const h = history(
      [read('x', null), read('y', null), write('x', 1)],
      [read('x', null), read('y', null), write('y', 1)],
    )
    const result = rw(h)
    expect(result.anomalyTypes).toEqual(['G2-item'])
    expect(result.anomalies[0]!.description).toBe('T0 —rw(y)→ T1 —rw(x)→ T0')
    expect(result.violates).toEqual(['repeatable-read', 'serializable', 'strict-serializable'])
    expect(formatCheckResult(check(h, { model: 'rw-register', isolation: 'serializable' }))).toBe(
      [
        'INVALID against serializable: 2 transactions (2 ok, 0 failed, 0 unknown), 1 finding(s)',
        "  G2-item: T0 —rw(y)→ T1 —rw(x)→ T0  [violates repeatable-read in Adya's sense (PL-2.99, stricter than PostgreSQL's), serializable, strict-serializable; allowed by snapshot-isolation, which is what PostgreSQL's REPEATABLE READ gives]",
      ].join('\n'),
    )
    // A run at PostgreSQL's REPEATABLE READ, judged as snapshot isolation: valid, and the line says why.
    const si = formatCheckResult(check(h, { model: 'rw-register', isolation: 'snapshot-isolation' }))
    expect(si.split('\n')[0]).toMatch(/^valid against snapshot-isolation/)
    expect(si).toContain('[allowed at snapshot-isolation, the level judged; violates repeatable-read in Adya')
  })

  test('lost update: two read-modify-writes of the same version both commit', () => {
    const result = rw(history([read('x', 5), write('x', 6)], [read('x', 5), write('x', 7)], [write('x', 5)]))
    expect(result.anomalyTypes).toEqual(['lost-update', 'G2-item'])
    expect(result.anomalies[0]!.description).toBe('T0, T1 all read x = 5 and then wrote 6, 7')
    expect(result.anomalies[1]!.description).toBe('T0 —rw(x)→ T1 —rw(x)→ T0')
  })

  test('a transaction that does not see its own write is reported', () => {
    expect(rw(history([write('x', 1), read('x', null)])).anomalyTypes).toEqual(['internal'])
  })
})

describe('process and real-time order', () => {
  // T0 commits an append; T1 starts afterwards and still reads the empty list: a stale read.
  const stale = (sameProcess: boolean): History => [
    { type: 'invoke', process: 0, time: 0, value: [append('x', 1)] },
    { type: 'ok', process: 0, time: 1, value: [append('x', 1)] },
    { type: 'invoke', process: sameProcess ? 0 : 1, time: 2, value: [read('x')] },
    { type: 'ok', process: sameProcess ? 0 : 1, time: 3, value: [read('x', [])] },
    { type: 'invoke', process: 2, time: 4, value: [read('x')] },
    { type: 'ok', process: 2, time: 5, value: [read('x', [1])] },
  ]

  test('a stale read is serializable, so data edges alone find nothing', () => {
    expect(check(stale(false), { model: 'list-append' }).anomalies).toEqual([])
  })

  test('with real-time order it is G-single-realtime, violating only strict serializability', () => {
    const result = check(stale(false), { model: 'list-append', realtime: true })
    expect(result.anomalyTypes).toEqual(['G-single-realtime'])
    expect(result.anomalies[0]!.description).toBe('T0 —realtime→ T1 —rw(x)→ T0')
    expect(result.violates).toEqual(['strict-serializable'])
    expect(
      check(stale(false), { model: 'list-append', realtime: true, isolation: 'serializable' }).valid,
    ).toBe(true)
  })

  test('with process order, the same client not seeing its own commit is G-single-process', () => {
    expect(check(stale(true), { model: 'list-append', processOrder: true }).anomalyTypes).toEqual([
      'G-single-process',
    ])
    expect(check(stale(false), { model: 'list-append', processOrder: true }).anomalies).toEqual([])
  })

  test('overlapping transactions get no real-time edge', () => {
    const overlapping: History = [
      { type: 'invoke', process: 0, time: 0, value: [append('x', 1)] },
      { type: 'invoke', process: 1, time: 1, value: [read('x')] },
      { type: 'ok', process: 0, time: 2, value: [append('x', 1)] },
      { type: 'ok', process: 1, time: 3, value: [read('x', [])] },
    ]
    expect(check(overlapping, { model: 'list-append', realtime: true }).anomalies).toEqual([])
  })
})

describe('history shape', () => {
  test('a completion without an invocation is one clear PgrigError', () => {
    try {
      check([{ type: 'ok', process: 3, time: 0, value: [] }], { model: 'rw-register' })
      expect.unreachable()
    } catch (error) {
      expect(isPgrigError(error) && error.code).toBe('E_HISTORY_INVALID')
      expect((error as Error).message).toBe(
        'History event 0: process 3 completed (ok) without an invocation; record each transaction as one invoke followed by one ok/fail/info from the same process.',
      )
    }
  })

  test('an unknown model is refused', () => {
    expect(() => check([], { model: 'bank' as never })).toThrow(
      /Unknown model "bank"; use 'list-append' or 'rw-register'/,
    )
  })

  test('the recorder pairs invocations, leaves open ones ambiguous and sorts errors into fail and info', async () => {
    const recorder = new HistoryRecorder()
    recorder.invoke(0, [append('x', 1)]).ok([append('x', 1)])
    await expect(
      recorder.record(1, [append('x', 2)], async () => {
        throw Object.assign(new Error('could not serialize access'), { code: '40001' })
      }),
    ).rejects.toThrow(/serialize/)
    await expect(
      recorder.record(2, [append('x', 3)], async () => {
        throw new Error('Connection terminated unexpectedly')
      }),
    ).rejects.toThrow(/terminated/)
    await recorder.record(3, [read('x')], async () => [read('x', [1, 3])])
    recorder.invoke(4, [append('x', 4)])
    const result = check(recorder.history, { model: 'list-append' })
    expect(result.transactions).toEqual({ total: 5, ok: 2, fail: 1, info: 2 })
    // The ambiguous append of 3 was observed, so it committed; no anomaly.
    expect(result.anomalies).toEqual([])
    expect(recorder.history[3]).toMatchObject({ type: 'fail', error: '40001 could not serialize access' })
  })
})
