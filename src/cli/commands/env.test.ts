import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import dotenv from 'dotenv'
import fc from 'fast-check'
import { expect, test } from 'vitest'
import { dotenvQuote, formatEnv } from './env.js'

const PYTHON = '/usr/bin/python3'
const hasPythonDotenv = (() => {
  try {
    execFileSync(PYTHON, ['-c', 'import dotenv'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
})()

/** What python-dotenv reads from a file of lines, key by key. */
function pythonDotenv(text: string): Record<string, string | null> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-dotenv-'))
  try {
    fs.writeFileSync(path.join(dir, '.env'), text)
    const script =
      'import json, sys; from dotenv import dotenv_values; print(json.dumps(dotenv_values(sys.argv[1])))'
    return JSON.parse(
      execFileSync(PYTHON, ['-c', script, path.join(dir, '.env')], { encoding: 'utf8' }),
    ) as Record<string, string | null>
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const hostile = [
  'plain',
  'with space',
  'a"b',
  'a\\b',
  "it's",
  '\\"',
  '"quoted"',
  '# not a comment',
  'a=b=c',
  '$HOME',
  '`tick`',
  '  padded  ',
  'trailing\\x',
  'RvRYSV7-xI7ADPyqrcoHSs4-',
  'postgres://app:p%22w%5C@127.0.0.1:5432/app',
]

test('pgrig env --format dotenv: what the dotenv package and python-dotenv read back is the value', () => {
  const env = Object.fromEntries(hostile.map((v, i) => [`V${i}`, v]))
  const text = formatEnv(env, 'dotenv')
  expect(dotenv.parse(text)).toEqual(env)
  if (hasPythonDotenv) expect(pythonDotenv(text)).toEqual(env)
})

test('a value no dotenv quoting carries through both parsers is one E_USAGE line, not a wrong password', () => {
  for (const value of ['a\nb', '${HOME}', `'"`, 'a\\\\b', "a\\'b", 'ends\\']) {
    expect(() => dotenvQuote('PGPASSWORD', value)).toThrow(
      expect.objectContaining({
        code: 'E_USAGE',
        message: expect.stringMatching(/^the value of PGPASSWORD holds .*--format json/),
      }),
    )
  }
})

test('any printable value is read back exactly or refused (property, both parsers)', () => {
  const accepted: string[] = []
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom(...'ab \'"\\$#`={}\t'), maxLength: 12 }), (value) => {
      let line: string
      try {
        line = `K=${dotenvQuote('K', value)}`
      } catch {
        return
      }
      expect(dotenv.parse(line).K).toBe(value)
      accepted.push(value)
    }),
    { numRuns: 300 },
  )
  if (hasPythonDotenv && accepted.length) {
    const env = Object.fromEntries(accepted.map((v, i) => [`K${i}`, v]))
    expect(pythonDotenv(formatEnv(env, 'dotenv'))).toEqual(env)
  }
})
