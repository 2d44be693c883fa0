/**
 * Reporter benchmark. Part 1: a synthetic 500-test suite (10 files x 50 tests, with categories)
 * run by `vitest run` with Vitest's default reporter alone, next to default + pgrig's plugin and
 * reporter (results.json, report.md, report.html), and default + pgrig + Vitest's junit reporter
 * (what `pgrigReport()` sets up by default). Wall time per `vitest run`, runs interleaved, median
 * and min; target: pgrig adds <= 5 %.
 * Part 2: the HTML report for 5,000 tests (10 % failing with messages and diffs): file size
 * (target < 2 MB) and time to open it in Chromium until its script has run (target < 1 s).
 *
 * Run: `npm run bench:reporter` (builds dist/ first); `--runs N` timed runs per row (default 7);
 * `--html-only` skips part 1.
 * Needs /usr/bin/chromium for part 2 (Debian: apt-get install chromium). Noise from other load on
 * the machine shows up directly in the numbers.
 */
import { Buffer } from 'node:buffer'
import { execFile } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { chromium } from 'playwright-core'
import { renderHtml } from '../dist/report/index.js'

const execFileP = promisify(execFile)
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const VITEST = path.join(ROOT, 'node_modules', 'vitest', 'vitest.mjs')
const REPORTER = pathToFileURL(path.join(ROOT, 'dist', 'report', 'index.js')).href
const runsArg = process.argv.indexOf('--runs')
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 7
const CATEGORIES = ['smoke', 'transaction', 'concurrent', 'migration', 'corruption']

// Inside node_modules so the suite's configs resolve vitest from this repo.
const suiteDir = path.join(ROOT, 'node_modules', '.cache', 'pgrig-bench-reporter')

function writeSuite() {
  fs.rmSync(suiteDir, { recursive: true, force: true })
  fs.mkdirSync(suiteDir, { recursive: true })
  for (let f = 0; f < 10; f++) {
    const tests = Array.from({ length: 50 }, (_, t) => {
      const category = CATEGORIES[(f * 50 + t) % CATEGORIES.length]
      return `  test('case ${t} checks a row', { tags: ['${category}'] }, () => {\n    expect(${t} + 1).toBe(${t + 1})\n  })`
    }).join('\n')
    fs.writeFileSync(
      path.join(suiteDir, `file${f}.spec.ts`),
      `import { describe, expect, test } from 'vitest'\n\ndescribe('suite ${f}', () => {\n${tests}\n})\n`,
    )
  }
  const tags = CATEGORIES.map((name) => `{ name: '${name}' }`).join(', ')
  const config = (plugin) =>
    `import { defineConfig } from 'vitest/config'\n${plugin ? `import { pgrigReport } from '${REPORTER}'\n` : ''}` +
    `export default defineConfig({ ${plugin ? `plugins: [${plugin}], ` : ''}test: { include: ['*.spec.ts'], reporters: ['default'], ${plugin ? '' : `tags: [${tags}], `}cache: false } })\n`
  fs.writeFileSync(path.join(suiteDir, 'default.config.mjs'), config(''))
  fs.writeFileSync(
    path.join(suiteDir, 'pgrig.config.mjs'),
    config(`pgrigReport({ junit: false, log: false, policy: {} })`),
  )
  fs.writeFileSync(
    path.join(suiteDir, 'pgrig-junit.config.mjs'),
    config(`pgrigReport({ log: false, policy: {} })`),
  )
}

async function timeRun(config) {
  const started = performance.now()
  await execFileP(process.execPath, [VITEST, 'run', '--config', config], {
    cwd: suiteDir,
    env: { ...process.env, CI: 'true', NO_COLOR: '1', PGRIG_REPORT_DIR: path.join(suiteDir, 'report') },
    maxBuffer: 64 * 1024 * 1024,
  })
  return performance.now() - started
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

function syntheticResults(count) {
  const tests = Array.from({ length: count }, (_, i) => {
    const failed = i % 10 === 0
    return {
      id: `${1000 + Math.floor(i / 50)}_${i % 50}`,
      file: `test/area${Math.floor(i / 250)}/file${Math.floor(i / 50)}.spec.ts`,
      suite: [`suite ${Math.floor(i / 50)}`],
      name: `case ${i} checks that the row count matches after the update`,
      categories: [CATEGORIES[i % CATEGORIES.length]],
      status: failed ? 'failed' : i % 17 === 0 ? 'skipped' : 'passed',
      durationMs: (i * 7919) % 900,
      retries: 0,
      flaky: false,
      skipNote: null,
      errors: failed
        ? [
            {
              name: 'AssertionError',
              message: `expected ${i} to be ${i + 1} // Object.is equality`,
              diff: `- Expected\n+ Received\n\n- ${i + 1}\n+ ${i}`,
              stack: null,
            },
          ]
        : [],
      provisionMs: 3 + (i % 5),
      serverLog: failed
        ? `2026-01-01 00:00:00 UTC [123] ERROR:  duplicate key value violates unique constraint "t_pkey"`
        : null,
      keptDatabaseUrl: null,
    }
  })
  return {
    schema: 'pgrig-results',
    version: 1,
    createdAt: new Date().toISOString(),
    policy: {
      mustPass: ['smoke'],
      allowedToFail: ['corruption'],
      skip: ['destructive'],
      only: [],
      skipSelected: [],
      timeouts: {},
    },
    runs: [
      {
        label: 'pg17',
        pgVersion: '17',
        shards: [],
        startedAt: new Date().toISOString(),
        durationMs: 120_000,
        outcome: 'failed',
        environment: {
          pgrig: '0.1.0',
          vitest: '4.1.12',
          node: process.version,
          os: 'Linux',
          arch: 'x64',
          cpus: 2,
          ci: null,
          servers: [],
        },
        tests,
        unhandledErrors: [],
      },
    ],
  }
}

async function htmlPart() {
  const html = renderHtml(syntheticResults(5000))
  const file = path.join(suiteDir, 'report-5000.html')
  fs.writeFileSync(file, html)
  const bytes = Buffer.byteLength(html)
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  })
  const opens = []
  try {
    for (let i = 0; i < RUNS + 1; i++) {
      const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
      const started = performance.now()
      await page.goto(pathToFileURL(file).href, { waitUntil: 'load' })
      // A string runs in the page, where `document` exists.
      await page.waitForFunction("document.getElementById('shown')?.textContent?.startsWith('5000 of 5000')")
      const elapsed = performance.now() - started
      if (i > 0) opens.push(elapsed) // the first open warms the browser's own caches
      await page.close()
    }
  } finally {
    await browser.close()
  }
  return { bytes, opens }
}

writeSuite()
const htmlOnly = process.argv.includes('--html-only')
const rows = [
  ['Vitest default reporter', 'default.config.mjs'],
  ['default + pgrig reporter', 'pgrig.config.mjs'],
  ['default + pgrig reporter + junit', 'pgrig-junit.config.mjs'],
]
const times = rows.map(() => [])
if (!htmlOnly) {
  for (const [, config] of rows) await timeRun(config) // warm-up: Vite's and the OS's caches
  for (let r = 0; r < RUNS; r++)
    for (let i = 0; i < rows.length; i++) times[i].push(await timeRun(rows[i][1]))
  const base = median(times[0])
  console.log(
    `\n500-test suite, \`vitest run\` wall time, ${RUNS} interleaved runs per row (${process.version}, ${process.arch})\n`,
  )
  console.log('| reporters | median | min | added vs default (median) |')
  console.log('|---|---:|---:|---:|')
  rows.forEach(([label], i) => {
    const m = median(times[i])
    const added = i === 0 ? '—' : `${(((m - base) / base) * 100).toFixed(1)} %`
    console.log(`| ${label} | ${m.toFixed(0)} ms | ${Math.min(...times[i]).toFixed(0)} ms | ${added} |`)
  })
}
const { bytes, opens } = await htmlPart()
console.log(`\nHTML report, 5,000 tests (one run, 10 % failing)\n`)
console.log('| measure | value | target |')
console.log('|---|---:|---:|')
console.log(`| file size | ${(bytes / 1024 / 1024).toFixed(2)} MB | < 2 MB |`)
console.log(
  `| open in Chromium until its script ran (median of ${opens.length}) | ${median(opens).toFixed(0)} ms | < 1000 ms |`,
)
console.log(`| open in Chromium (min) | ${Math.min(...opens).toFixed(0)} ms | |`)
fs.rmSync(suiteDir, { recursive: true, force: true })
