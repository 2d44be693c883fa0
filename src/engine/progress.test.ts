import { Writable } from 'node:stream'
import { expect, test } from 'vitest'
import { progressReporter } from './progress.js'

function collector() {
  const lines: string[] = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString().split('\n').filter(Boolean))
      callback()
    },
  })
  return { lines, stream: stream as unknown as NodeJS.WriteStream }
}

test('off a terminal it writes a handful of plain lines', () => {
  const { lines, stream } = collector()
  const report = progressReporter({ stream })
  const total = 27_100_000
  report({ label: 'PostgreSQL 17.6', phase: 'start', received: 0, total })
  for (let received = 0; received <= total; received += 100_000) {
    report({ label: 'PostgreSQL 17.6', phase: 'data', received, total })
  }
  report({ label: 'PostgreSQL 17.6', phase: 'end', received: total, total })
  expect(lines).toEqual([
    'Downloading PostgreSQL 17.6 (27.1 MB)',
    'Downloading PostgreSQL 17.6: 25% (6.8/27.1 MB)',
    'Downloading PostgreSQL 17.6: 50% (13.6/27.1 MB)',
    'Downloading PostgreSQL 17.6: 75% (20.4/27.1 MB)',
    'Downloaded PostgreSQL 17.6 (27.1 MB)',
  ])
})

test('quiet writes nothing', () => {
  const { lines, stream } = collector()
  const report = progressReporter({ stream, quiet: true })
  report({ label: 'PostgreSQL 17.6', phase: 'start', received: 0, total: 10 })
  report({ label: 'PostgreSQL 17.6', phase: 'end', received: 10, total: 10 })
  expect(lines).toEqual([])
})

test('on a terminal it draws a bar (cli-progress, loaded for it)', () => {
  const { lines, stream } = collector()
  Object.assign(stream, { isTTY: true, columns: 120 })
  const report = progressReporter({ stream })
  const total = 27_100_000
  report({ label: 'PostgreSQL 17.6', phase: 'start', received: 0, total })
  report({ label: 'PostgreSQL 17.6', phase: 'data', received: total / 2, total })
  report({ label: 'PostgreSQL 17.6', phase: 'end', received: total, total })
  expect(lines.join('\n')).toContain(
    'Downloading PostgreSQL 17.6 [==============================] 100% 27.1/27.1 MB',
  )
})
