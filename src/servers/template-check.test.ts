import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { isMarked, markTemplate, templateDamage, TEMPLATE_MARK, usableTemplate } from './template-check.js'

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-template-check-'))
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }))

let count = 0
/** A folder laid out like a data dir, with the files a start reads first. */
function fakeDataDir(): string {
  const dir = path.join(scratch, `t${++count}`)
  for (const [file, size] of [
    ['PG_VERSION', 3],
    ['global/pg_control', 8192],
    ['base/1/1259', 16384],
    ['base/5/1259', 16384],
    ['base/5/2619', 8192],
  ] as const) {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true })
    fs.writeFileSync(path.join(dir, file), Buffer.alloc(size, file))
  }
  return dir
}

function overwrite(file: string): void {
  const fd = fs.openSync(file, 'r+')
  fs.writeSync(fd, Buffer.from('garbage'), 0, 7, 100)
  fs.closeSync(fd)
}

test('a marked template is whole, by the quick check and the full one', () => {
  const dir = fakeDataDir()
  markTemplate(dir, undefined)
  expect(isMarked(dir)).toBe(true)
  expect(templateDamage(dir)).toBeUndefined()
  expect(templateDamage(dir, true)).toBeUndefined()
})

test('an overwritten global/pg_control or base/*/1259 is damaged', () => {
  for (const file of ['global/pg_control', 'base/5/1259']) {
    const dir = fakeDataDir()
    markTemplate(dir, undefined)
    overwrite(path.join(dir, file))
    expect(templateDamage(dir)).toBe(`${file} differs from when it was built`)
  }
})

test('a missing first file, or one the build never had, is damaged', () => {
  const gone = fakeDataDir()
  markTemplate(gone, undefined)
  fs.rmSync(path.join(gone, 'base/1/1259'))
  expect(templateDamage(gone)).toBe('base/1/1259 is missing')
  const added = fakeDataDir()
  markTemplate(added, undefined)
  fs.mkdirSync(path.join(added, 'base/9'))
  fs.writeFileSync(path.join(added, 'base/9/1259'), 'x')
  expect(templateDamage(added)).toBe('base/9/1259 was not there when it was built')
})

test('damage elsewhere is left to the full check (doctor)', () => {
  const dir = fakeDataDir()
  markTemplate(dir, undefined)
  overwrite(path.join(dir, 'base/5/2619'))
  expect(templateDamage(dir)).toBeUndefined()
  expect(templateDamage(dir, true)).toBe('its files differ from when it was built')
})

test('no mark, or an unreadable one, is not a finished template', () => {
  const dir = fakeDataDir()
  expect(isMarked(dir)).toBe(false)
  expect(templateDamage(dir)).toMatch(/has no pgrig-template\.json/)
  fs.writeFileSync(path.join(dir, TEMPLATE_MARK), '{not json')
  expect(templateDamage(dir)).toMatch(/unreadable/)
})

test('usableTemplate removes a damaged template and its spares, and keeps a whole one', () => {
  const damaged = fakeDataDir()
  markTemplate(damaged, undefined)
  fs.mkdirSync(`${damaged}.spares/a`, { recursive: true })
  overwrite(path.join(damaged, 'global/pg_control'))
  expect(usableTemplate(damaged)).toBe(false)
  expect(fs.existsSync(damaged)).toBe(false)
  expect(fs.existsSync(`${damaged}.spares`)).toBe(false)
  expect(fs.readdirSync(scratch).filter((n) => n.startsWith('.damaged-'))).toEqual([])
  const whole = fakeDataDir()
  markTemplate(whole, undefined)
  expect(usableTemplate(whole)).toBe(true)
  expect(fs.existsSync(whole)).toBe(true)
})
