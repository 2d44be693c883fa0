import fs from 'node:fs'
import path from 'node:path'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../../test/support/chromium.js'
import { vitestRun } from '../../test/report-fixture.js'
import { renderHtml } from './html.js'
import { renderMarkdown } from './markdown.js'
import { RESULTS_SCHEMA, RESULTS_VERSION, type PgrigResults, type TestRecord } from './results.js'

let browser: Browser
let page: Page
let dir: string

beforeAll(async () => {
  const [report, launched] = await Promise.all([
    vitestRun({ FAIL_CORRUPTION: '1', FAIL_SMOKE: '1' }),
    chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS }),
  ])
  expect(report.code).toBe(1)
  dir = report.dir
  browser = launched
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  // Offline: any request leaving the file would mean a CDN or remote asset slipped in.
  const requests: string[] = []
  page.on('request', (request) => requests.push(request.url()))
  await page.goto(`file://${path.join(dir, 'report.html')}`)
  expect(requests).toEqual([`file://${path.join(dir, 'report.html')}`])
})

afterAll(async () => {
  await browser?.close()
  if (dir) fs.rmSync(dir, { recursive: true, force: true })
})

const visibleTitles = () =>
  page.$$eval('#results tbody tr:not([hidden]) td:first-child', (cells) => cells.map((c) => c.textContent))

describe('the HTML report in Chromium', () => {
  test('shows the outcome, a row per test, and the failures expanded', async () => {
    expect(await page.textContent('#outcome')).toBe('pgrig test report: failed')
    expect(await page.textContent('#totals')).toMatch(
      /^9 tests: 5 passed, 2 failed, 1 allowed to fail, 1 skipped\./,
    )
    expect(await visibleTitles()).toHaveLength(9)
    expect(await page.textContent('#shown')).toBe('9 of 9 tests shown')
    const failures = page.locator('#failures details.failure')
    expect(await failures.count()).toBe(3)
    for (const failure of await failures.all()) {
      expect(await failure.getAttribute('open')).not.toBeNull()
      expect(await failure.locator('pre.message').isVisible()).toBe(true)
    }
    expect(await page.locator('#failures pre.diff', { hasText: 'checksum' }).textContent()).toContain(
      '+   "checksum": "bad",',
    )
    expect(await page.isVisible('#allowed')).toBe(true)
    expect(await page.locator('#duration-chart rect').count()).toBe(8)
  })

  test('typing in the filter and picking a status or category narrows the rows', async () => {
    await page.fill('#filter', 'flipped')
    expect(await visibleTitles()).toEqual(['pages [corruption] › detects a flipped bit'])
    expect(await page.textContent('#shown')).toBe('1 of 9 tests shown')
    await page.fill('#filter', '')
    await page.selectOption('#status', 'failed')
    expect((await visibleTitles()).sort()).toEqual([
      'connections › answers SELECT 1',
      'connections › reads a checksummed page',
    ])
    await page.selectOption('#status', '')
    await page.selectOption('#category', 'destructive')
    expect(await visibleTitles()).toEqual(['kills the server'])
    await page.selectOption('#category', '')
    expect(await visibleTitles()).toHaveLength(9)
  })

  test('clicking a column header sorts the rows, again reverses them', async () => {
    const header = page.locator('#results thead th', { hasText: 'Test' })
    await header.click()
    const ascending = await visibleTitles()
    expect(ascending).toEqual([...ascending].sort((a, b) => (a ?? '').localeCompare(b ?? '', 'en')))
    await header.click()
    expect(await visibleTitles()).toEqual([...ascending].reverse())
    await page.locator('#results thead th', { hasText: 'Duration' }).click()
    const durations = await page.$$eval('#results tbody tr td.n:nth-last-child(2)', (cells) =>
      cells.map((c) => Number(c.getAttribute('data-v'))),
    )
    expect(durations).toEqual([...durations].sort((a, b) => a - b))
  })

  test('a screenshot is the expected size and not blank', async () => {
    await page.evaluate(() => window.scrollTo(0, 0))
    const png = await page.screenshot()
    // PGRIG_SCREENSHOT=<file> keeps the picture for a person to look at.
    if (process.env.PGRIG_SCREENSHOT) fs.writeFileSync(process.env.PGRIG_SCREENSHOT, png)
    // PNG header: width and height as big-endian integers at bytes 16 and 20.
    expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([1280, 900])
    const colours = await page.evaluate(async (data) => {
      const image = new Image()
      image.src = `data:image/png;base64,${data}`
      await image.decode()
      const canvas = document.createElement('canvas')
      canvas.width = image.width
      canvas.height = image.height
      const context = canvas.getContext('2d') as CanvasRenderingContext2D
      context.drawImage(image, 0, 0)
      const pixels = context.getImageData(0, 0, image.width, image.height).data
      let nonWhite = 0
      const distinct = new Set<number>()
      for (let i = 0; i < pixels.length; i += 4 * 7) {
        const [r, g, b] = [pixels[i] as number, pixels[i + 1] as number, pixels[i + 2] as number]
        if (r < 240 || g < 240 || b < 240) nonWhite++
        distinct.add((r << 16) | (g << 8) | b)
      }
      return { nonWhite: nonWhite / (pixels.length / (4 * 7)), distinct: distinct.size }
    }, png.toString('base64'))
    expect(colours.nonWhite).toBeGreaterThan(0.02)
    expect(colours.distinct).toBeGreaterThan(20)
  })
})

test("the first failure's server log is shown open, the others' collapsed (HTML and Markdown)", () => {
  const results = manyTests(3)
  const tests = results.runs[0]!.tests
  for (const t of tests) Object.assign(t, { status: 'failed', serverLog: `LOG:  log of ${t.name}` })
  const html = renderHtml(results)
  expect(html.match(/<details( open)?><summary>Server log during the test/g)).toEqual([
    '<details open><summary>Server log during the test',
    '<details><summary>Server log during the test',
    '<details><summary>Server log during the test',
  ])
  const markdown = renderMarkdown(results)
  expect(markdown.match(/<details( open)?><summary>Server log during the test/g)).toEqual([
    '<details open><summary>Server log during the test',
    '<details><summary>Server log during the test',
    '<details><summary>Server log during the test',
  ])
})

function manyTests(count: number): PgrigResults {
  const tests: TestRecord[] = Array.from({ length: count }, (_, i) => ({
    id: `t${i}`,
    file: `file${Math.floor(i / 100)}.spec.ts`,
    suite: [],
    name: `case ${String(i).padStart(4, '0')}`,
    categories: [i % 2 ? 'smoke' : 'load'],
    status: i === count - 1 ? 'failed' : 'passed',
    durationMs: i,
    retries: 0,
    flaky: false,
    skipNote: null,
    errors: [],
    provisionMs: null,
    serverLog: null,
    keptDatabaseUrl: null,
  }))
  const environment = {
    pgrig: '0',
    vitest: null,
    node: 'v20',
    os: 'Linux',
    arch: 'x64',
    cpus: 2,
    ci: null,
    servers: [],
  }
  return {
    schema: RESULTS_SCHEMA,
    version: RESULTS_VERSION,
    createdAt: new Date(0).toISOString(),
    policy: { mustPass: [], allowedToFail: [], skip: [], only: [], skipSelected: [], timeouts: {} },
    runs: [
      {
        label: 'pg17',
        pgVersion: '17',
        shards: [],
        startedAt: '',
        durationMs: 1,
        outcome: 'failed',
        environment,
        tests,
        unhandledErrors: [],
      },
    ],
  }
}

describe('a large HTML report in Chromium', () => {
  test('draws 500 rows at a time; the filter still reaches every test', async () => {
    const file = path.join(dir, 'large.html')
    fs.writeFileSync(file, renderHtml(manyTests(1200)))
    const large = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    try {
      await large.goto(`file://${file}`)
      const drawn = () => large.locator('#results tbody tr').count()
      expect(await drawn()).toBe(500)
      expect(await large.textContent('#shown')).toBe('1200 of 1200 tests shown')
      expect(await large.textContent('#more')).toBe('Show 500 more (700 not drawn yet)')
      await large.click('#more')
      expect(await drawn()).toBe(1000)
      await large.fill('#filter', 'case 1199')
      expect(
        await large.$$eval('#results tbody tr td:first-child', (c) => c.map((x) => x.textContent)),
      ).toEqual(['case 1199'])
      expect(await large.isHidden('#more')).toBe(true)
    } finally {
      await large.close()
    }
  })
})
