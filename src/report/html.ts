import { SCRIPT, STYLE } from './html-assets.js'
import {
  countStatuses,
  overallOutcome,
  type PgrigResults,
  type RunRecord,
  type TestRecord,
} from './results.js'
import {
  countsByCategory,
  failuresOf,
  formatMs,
  policyOf,
  runnerOf,
  STATUS_LABEL,
  testRows,
  titleOf,
} from './view.js'

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
}
function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] as string)
}

/** Failures past this many start collapsed: hundreds of open blocks would slow the page down. */
const EXPANDED_FAILURES = 50

/** The first failure's server log slice is shown open: it is the one a reader looks at first. */
function failureBlock(
  run: RunRecord,
  test: TestRecord,
  multiRun: boolean,
  open: boolean,
  first: boolean,
): string {
  const errors = test.errors
    .map(
      (e) =>
        `<pre class="message">${esc(`${e.name}: ${e.message}`)}</pre>${e.diff ? `<pre class="diff">${esc(e.diff)}</pre>` : ''}`,
    )
    .join('')
  const kept = test.keptDatabaseUrl ? `<p>Kept database: <code>${esc(test.keptDatabaseUrl)}</code></p>` : ''
  const log = test.serverLog
    ? `<details${first ? ' open' : ''}><summary>Server log during the test</summary><pre class="log">${esc(test.serverLog)}</pre></details>`
    : ''
  return `<details${open ? ' open' : ''} class="failure" data-status="${test.status}"><summary>${test.status === 'failed' ? '✗' : '⚠'} ${esc(titleOf(test))}${multiRun ? ` <span class="muted">(${esc(run.label)})</span>` : ''}</summary><p class="muted">${esc(test.file)} · ${test.categories.map((c) => `<span class="tag">${esc(c)}</span>`).join('')} · ${formatMs(test.durationMs)} · ${STATUS_LABEL[test.status]}</p>${errors}${kept}${log}</details>`
}

/** Horizontal bars for the slowest tests, drawn here so the report needs no chart library at view time. */
function durationChart(results: PgrigResults): string {
  const multiRun = results.runs.length > 1
  const slowest = results.runs
    .flatMap((run) => run.tests.filter((t) => t.status !== 'skipped').map((test) => ({ run, test })))
    .sort((a, b) => b.test.durationMs - a.test.durationMs)
    .slice(0, 20)
  if (slowest.length === 0) return '<p class="muted">No test ran.</p>'
  const max = Math.max(1, ...slowest.map((s) => s.test.durationMs))
  const barX = 360
  const width = 900
  const rowHeight = 18
  const bars = slowest
    .map(({ run, test }, i) => {
      const y = i * rowHeight
      const w = Math.max(1, Math.round(((width - barX - 80) * test.durationMs) / max))
      const label = `${titleOf(test)}${multiRun ? ` (${run.label})` : ''}`
      const short = label.length > 58 ? `${label.slice(0, 57)}…` : label
      return `<text x="${barX - 6}" y="${y + 13}" text-anchor="end">${esc(short)}<title>${esc(label)}</title></text><rect x="${barX}" y="${y + 3}" width="${w}" height="${rowHeight - 6}" class="bar ${test.status}" fill="${test.status === 'passed' ? '#32d583' : test.status === 'failed' ? '#f04438' : '#fdb022'}"/><text x="${barX + w + 6}" y="${y + 13}">${formatMs(test.durationMs)}</text>`
    })
    .join('')
  return `<svg id="duration-chart" role="img" aria-label="Slowest tests by duration" width="${width}" height="${slowest.length * rowHeight}" viewBox="0 0 ${width} ${slowest.length * rowHeight}" xmlns="http://www.w3.org/2000/svg">${bars}</svg>`
}

const STATUS_CODE = { passed: 'p', failed: 'f', 'allowed-failure': 'a', skipped: 's' } as const

/** JSON inside a <script> element: only `<` can end the element early, so it is escaped. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c')
}

/**
 * The results table: rows live as compact JSON and the page's script draws the matching ones a
 * page at a time, so a 5,000-test report stays small and opens fast.
 */
function resultsTable(results: PgrigResults): string {
  const rows = testRows(results)
  const multiRun = results.runs.length > 1
  const categories = [...new Set(rows.flatMap((r) => r.categories))].sort()
  const data = {
    runs: results.runs.map((r) => r.label),
    rows: rows.map((row) => {
      const tests = row.cells.filter((t): t is TestRecord => t !== undefined)
      const provision = tests.find((t) => t.provisionMs !== null)?.provisionMs ?? null
      return [
        row.title,
        row.file,
        row.categories.join(' '),
        results.runs.map((_, i) => {
          const t = row.cells[i]
          return t ? STATUS_CODE[t.status] : ''
        }),
        Math.round(tests.reduce((sum, t) => sum + t.durationMs, 0) * 10) / 10,
        provision,
      ]
    }),
  }
  const heads = results.runs.map((r) => `<th data-k="r">${esc(r.label)}</th>`).join('')
  const statusOptions = (['failed', 'allowed-failure', 'passed', 'skipped'] as const)
    .map((s) => `<option value="${STATUS_CODE[s]}">${STATUS_LABEL[s]}</option>`)
    .join('')
  const categoryOptions = categories.map((c) => `<option value="${esc(c)}">${esc(c)}</option>`).join('')
  return `<div class="controls"><input id="filter" type="search" placeholder="Filter by test, file or category" aria-label="Filter tests"><select id="status" aria-label="Status"><option value="">every status</option>${statusOptions}</select><select id="category" aria-label="Category"><option value="">every category</option>${categoryOptions}</select><span id="shown" class="muted"></span></div>
<table id="results"><thead><tr><th data-k="t">Test</th><th data-k="f">File</th><th data-k="c">Categories</th>${heads}<th data-k="d" class="n">Duration${multiRun ? ' (sum)' : ''}</th><th data-k="v" class="n">Provisioning</th></tr></thead><tbody></tbody></table>
<p><button id="more" type="button" hidden></button></p>
<script type="application/json" id="data">${scriptJson(data)}</script>`
}

function summaryTables(results: PgrigResults): string {
  const runRows = results.runs
    .map((run) => {
      const c = countStatuses(run.tests)
      const versions = [...new Set(run.environment.servers.map((s) => s.version).filter(Boolean))].join(', ')
      return `<tr><td>${esc(run.label)}${run.shards.length ? ` <span class="muted">shards ${esc(run.shards.join(', '))}</span>` : ''}</td><td>${esc(versions || run.pgVersion || '—')}</td><td class="o-${run.outcome}">${run.outcome}</td><td class="n">${c.passed}</td><td class="n">${c.failed}</td><td class="n">${c.allowedFailures}</td><td class="n">${c.skipped}</td><td class="n">${formatMs(run.durationMs)}</td></tr>`
    })
    .join('')
  const heads = results.runs
    .map((r) => `<th>${esc(r.label)}<br><span class="muted">pass / fail / allowed / skip</span></th>`)
    .join('')
  const categoryRows = countsByCategory(results)
    .map(
      (c) =>
        `<tr><td><span class="tag">${esc(c.category)}</span></td><td>${esc(policyOf(results, c.category))}</td>${c.perRun.map((n) => `<td>${n.passed} / <span class="${n.failed ? 'failed' : ''}">${n.failed}</span> / <span class="${n.allowedFailures ? 'allowed-failure' : ''}">${n.allowedFailures}</span> / ${n.skipped}</td>`).join('')}</tr>`,
    )
    .join('')
  return `<h2>By PostgreSQL version</h2><table id="by-version"><thead><tr><th>Run</th><th>PostgreSQL</th><th>Outcome</th><th class="n">Passed</th><th class="n">Failed</th><th class="n">Allowed to fail</th><th class="n">Skipped</th><th class="n">Duration</th></tr></thead><tbody>${runRows}</tbody></table>
<h2>By category</h2><table id="by-category"><thead><tr><th>Category</th><th>Policy</th>${heads}</tr></thead><tbody>${categoryRows}</tbody></table>`
}

function environment(results: PgrigResults): string {
  const env = results.runs[0]?.environment
  if (!env) return ''
  const servers = results.runs.flatMap((run) => run.environment.servers.map((server) => ({ run, server })))
  const serverRows = servers
    .map(
      ({ run, server }) =>
        `<tr><td>${esc(run.label)}</td><td>${esc(server.name)}</td><td>${esc(server.version ?? 'unreachable')}</td><td>${server.profile}</td><td>${esc(server.engine ?? '—')}</td><td>${esc(server.address)}</td><td><details><summary>${Object.keys(server.settings).length} settings</summary><table>${Object.entries(
          server.settings,
        )
          .map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`)
          .join('')}</table></details></td></tr>`,
    )
    .join('')
  return `<h2>Environment</h2><table id="environment"><tbody><tr><th>pgrig</th><td>${esc(env.pgrig)}</td></tr><tr><th>Runner</th><td>${esc(runnerOf(env))}</td></tr><tr><th>Node</th><td>${esc(env.node)}</td></tr><tr><th>OS</th><td>${esc(`${env.os} (${env.arch}, ${env.cpus} CPUs)`)}</td></tr><tr><th>CI</th><td>${esc(env.ci ?? 'none')}</td></tr></tbody></table>
${servers.length ? `<table id="servers"><thead><tr><th>Run</th><th>Server</th><th>PostgreSQL</th><th>Profile</th><th>Engine</th><th>Address</th><th>Non-default settings</th></tr></thead><tbody>${serverRows}</tbody></table>` : '<p class="muted">No pgrig servers were in the environment.</p>'}`
}

/** One self-contained HTML file: inline CSS, JS and SVG, so it opens offline from an artifact. */
export function renderHtml(results: PgrigResults): string {
  const outcome = overallOutcome(results)
  const all = countStatuses(results.runs.flatMap((run) => run.tests))
  const multiRun = results.runs.length > 1
  const allowed = failuresOf(results, 'allowed-failure')
  const failures = [...failuresOf(results, 'failed'), ...allowed]
  const unhandled = results.runs.flatMap((run) => run.unhandledErrors.map((error) => ({ run, error })))
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>pgrig test report: ${outcome}</title><style>${STYLE}</style></head><body>
<h1 id="outcome" class="o-${outcome}">pgrig test report: ${outcome}</h1>
<p id="totals">${all.total} tests${multiRun ? ` over ${results.runs.length} runs (${esc(results.runs.map((r) => r.label).join(', '))})` : ''}: <span class="passed">${all.passed} passed</span>, <span class="failed">${all.failed} failed</span>, <span class="allowed-failure">${all.allowedFailures} allowed to fail</span>, <span class="skipped">${all.skipped} skipped</span>. <span class="muted">Written ${esc(results.createdAt)}</span></p>
${allowed.length ? `<div class="warning" id="allowed"><strong>${allowed.length} failure${allowed.length === 1 ? '' : 's'} in allowed-to-fail categories (${esc(results.policy.allowedToFail.join(', '))}) did not fail the run.</strong></div>` : ''}
${summaryTables(results)}
${failures.length ? `<h2>Failures</h2><div id="failures">${failures.map(({ run, test }, i) => failureBlock(run, test, multiRun, i < EXPANDED_FAILURES, i === 0)).join('\n')}</div>` : ''}
${unhandled.length ? `<h2>Errors outside tests</h2>${unhandled.map(({ run, error }) => `<pre class="message">${esc(`${multiRun ? `${run.label}: ` : ''}${error.name}: ${error.message}`)}</pre>`).join('')}` : ''}
<h2>Slowest tests</h2>${durationChart(results)}
<h2>Tests</h2>${resultsTable(results)}
${environment(results)}
<script>${SCRIPT}</script></body></html>
`
}
