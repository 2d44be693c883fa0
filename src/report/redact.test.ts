import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { MIN_FRAGMENT, createRedactor, redactDeep, redactErrorInPlace } from './redact.js'
import { RESULTS_SCHEMA, RESULTS_VERSION, type PgrigResults } from './results.js'
import { writeReports } from './write.js'

const password = 'dpQc-oS6w6gdpBWiaKWbts9x'
const url = `postgres://app:${password}@127.0.0.1:5432/app`
const redact = createRedactor([password, encodeURIComponent(password)])

/** Every piece of MIN_FRAGMENT characters of the password. */
function fragments(secret: string): string[] {
  return Array.from({ length: secret.length - MIN_FRAGMENT + 1 }, (_, i) => secret.slice(i, i + MIN_FRAGMENT))
}

test('a failing diff keeps which side differs: each distinct password its own mark, none shown', () => {
  const wrong = `postgres://app:not-the-password@127.0.0.1:5432/app`
  const error = {
    message: `expected '${url}' to be '${wrong}'`,
    diff: `- Expected\n+ Received\n\n- ${wrong}\n+ ${url}`,
    expected: wrong,
    actual: url,
  }
  redactErrorInPlace(error, [password])
  expect(error.diff).toBe(
    '- Expected\n+ Received\n\n- postgres://app:***(2)@127.0.0.1:5432/app\n+ postgres://app:***@127.0.0.1:5432/app',
  )
  // The same value gets the same mark in every field of the error.
  expect(error.actual).toBe('postgres://app:***@127.0.0.1:5432/app')
  expect(error.expected).toBe('postgres://app:***(2)@127.0.0.1:5432/app')
  expect(error.message).toBe(`expected '${error.actual}' to be '${error.expected}'`)
  for (const text of Object.values(error)) {
    expect(text).not.toContain('not-the-password')
    for (const piece of fragments(password)) expect(text).not.toContain(piece)
  }
})

const leaks = [
  `expected '${url.slice(0, 36)}…' to be 'x'`, // Vitest's truncated assertion
  `console: ${url}`,
  `error: password authentication failed { user: 'app', password: '${password}', host: '127.0.0.1' }`,
  `{"password":"${password}"}`,
  `PGPASSWORD=${password} psql`,
  `see postgresql://other:s3cr3t-not-known@db.example/x`,
  `half of it: ${password.slice(3, 15)} and the end ${password.slice(-7)}`,
]

test('hides URL userinfo, password values and every 6+ character piece of a known password', () => {
  for (const text of leaks) {
    const out = redact(text)
    for (const piece of fragments(password)) expect(out).not.toContain(piece)
    expect(out).not.toContain('s3cr3t')
  }
  expect(redact(url)).toBe('postgres://app:***@127.0.0.1:5432/app')
  // Ports and plain text are left alone.
  expect(redact('http://localhost:5432/app, then redis://localhost:6379')).toBe(
    'http://localhost:5432/app, then redis://localhost:6379',
  )
})

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-redact-'))
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

test('no 6+ character piece of the password reaches any file the reporter writes', () => {
  const error = (message: string) => ({ name: 'AssertionError', message, diff: message, stack: message })
  const results: PgrigResults = {
    schema: RESULTS_SCHEMA,
    version: RESULTS_VERSION,
    createdAt: new Date().toISOString(),
    policy: { mustPass: [], allowedToFail: [], skip: [], only: [], skipSelected: [], timeouts: {} },
    runs: [
      {
        label: 'default',
        pgVersion: null,
        shards: [],
        startedAt: new Date().toISOString(),
        durationMs: 1,
        outcome: 'failed',
        environment: {
          pgrig: '0',
          vitest: null,
          node: process.version,
          os: 'x',
          arch: 'x',
          cpus: 1,
          ci: null,
          servers: [
            {
              name: 'main',
              version: null,
              profile: 'plain',
              engine: null,
              address: url,
              settings: { x: url },
            },
          ],
        },
        tests: leaks.map((text, i) => ({
          id: String(i),
          file: 'a.test.ts',
          suite: [],
          name: `leak ${i}`,
          categories: [],
          status: 'failed',
          durationMs: 1,
          retries: 0,
          flaky: false,
          skipNote: null,
          errors: [error(text)],
          provisionMs: null,
          serverLog: `LOG:  statement: ALTER ROLE app PASSWORD '${password}'\n${text}`,
          keptDatabaseUrl: url,
        })),
        unhandledErrors: leaks.map(error),
      },
    ],
  }
  const files = writeReports(redactDeep(results, redact), dir, {})
  for (const file of [files.json, files.markdown, files.html]) {
    const text = fs.readFileSync(file, 'utf8')
    for (const piece of fragments(password))
      expect(text, `${path.basename(file)}: ${piece}`).not.toContain(piece)
  }
})
