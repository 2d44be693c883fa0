import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterEach, expect, test } from 'vitest'
import { DIED_LOG_KEEP_MS, pruneDiedLogs } from './died-logs.js'

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'died-logs-test-'))
afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }))

function folder(name: string, files: Record<string, string>, ageMs: number): string {
  const dir = path.join(tmp, name)
  fs.mkdirSync(dir, { recursive: true })
  for (const [file, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, file), text)
  const when = (Date.now() - ageMs) / 1000
  fs.utimesSync(dir, when, when)
  return dir
}

test("a dead server's log copy is kept a week, then removed; nothing else in the temp folder is", () => {
  const old = folder('pgrig-m09gwuqm-8PYGbv', { 'main-died.log': 'LOG: …' }, DIED_LOG_KEEP_MS + 60_000)
  const fresh = folder('pgrig-a1b2c3d4-Zz09Aa', { 'main-died.log': 'LOG: …' }, 60_000)
  const other = folder('pgrig-q1w2e3r4-Qq11Ww', { 'notes.txt': 'not a log copy' }, DIED_LOG_KEEP_MS * 2)
  const mixed = folder(
    'pgrig-z9y8x7w6-Mm22Nn',
    { 'main-died.log': '', 'data.sql': 'someone else put this here' },
    DIED_LOG_KEEP_MS * 2,
  )
  const project = folder('pgrig-vitest-project-abcdef', { 'main-died.log': '' }, DIED_LOG_KEEP_MS * 2)
  pruneDiedLogs(DIED_LOG_KEEP_MS, tmp)
  expect(fs.existsSync(old)).toBe(false)
  for (const kept of [fresh, other, mixed, project]) expect(fs.existsSync(kept), kept).toBe(true)
})
