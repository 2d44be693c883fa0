import {
  countStatuses,
  overallOutcome,
  type PgrigResults,
  type RunRecord,
  type StatusCounts,
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

const ICON = { passed: '✅', failed: '❌', 'allowed-failure': '⚠️', skipped: '⏭️' } as const

function cell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ')
}

function fence(text: string, lang = ''): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length))
  const ticks = '`'.repeat(longest + 1)
  return `${ticks}${lang}\n${text.replace(/\s+$/, '')}\n${ticks}`
}

function countCells(c: StatusCounts): string {
  return `${c.passed} | ${c.failed} | ${c.allowedFailures} | ${c.skipped}`
}

function failureSection(run: RunRecord, test: TestRecord, multiRun: boolean, first: boolean): string[] {
  const lines = [`### ${ICON[test.status]} ${cell(titleOf(test))}${multiRun ? ` (${run.label})` : ''}`, '']
  lines.push(
    `\`${test.file}\`${test.categories.length ? ` · categories: ${test.categories.join(', ')}` : ''} · ${formatMs(test.durationMs)}`,
    '',
  )
  for (const error of test.errors) {
    lines.push(fence(`${error.name}: ${error.message}`), '')
    if (error.diff) lines.push(fence(error.diff, 'diff'), '')
  }
  if (test.keptDatabaseUrl) lines.push(`Kept database: \`${test.keptDatabaseUrl}\``, '')
  if (test.serverLog) {
    lines.push(
      // The first failure's log slice open: the one a reader looks at first.
      `<details${first ? ' open' : ''}><summary>Server log during the test</summary>`,
      '',
      fence(test.serverLog),
      '',
      '</details>',
      '',
    )
  }
  return lines
}

function environmentSection(results: PgrigResults): string[] {
  const first = results.runs[0]
  if (!first) return []
  const env = first.environment
  const lines = [
    '## Environment',
    '',
    `pgrig ${env.pgrig} · ${runnerOf(env)} · Node ${env.node} · ${env.os} (${env.arch}, ${env.cpus} CPUs)${env.ci ? ` · ${env.ci}` : ''}`,
    '',
  ]
  const servers = results.runs.flatMap((run) => run.environment.servers.map((server) => ({ run, server })))
  if (servers.length > 0) {
    lines.push('| run | server | PostgreSQL | profile | engine | address |', '|---|---|---|---|---|---|')
    for (const { run, server } of servers) {
      lines.push(
        `| ${cell(run.label)} | ${cell(server.name)} | ${server.version ?? 'unreachable'} | ${server.profile} | ${server.engine ?? '—'} | ${server.address} |`,
      )
    }
    lines.push('')
    for (const { run, server } of servers) {
      const settings = Object.entries(server.settings)
      if (settings.length === 0) continue
      lines.push(
        `<details><summary>Non-default settings: ${cell(server.name)} (${cell(run.label)}, PostgreSQL ${server.version ?? '?'})</summary>`,
        '',
        '| setting | value |',
        '|---|---|',
        ...settings.map(([name, value]) => `| ${name} | ${cell(value)} |`),
        '',
        '</details>',
        '',
      )
    }
  } else {
    lines.push(
      'No pgrig servers were in the environment (run the tests through `pgrig run` to record them).',
      '',
    )
  }
  return lines
}

export interface MarkdownOptions {
  /** Leave out the per-test table and environment details (GitHub step summaries are capped at 1 MiB). */
  summaryOnly?: boolean
}

/** The Markdown report: summary by version and category, failures in full, every test, environment. */
export function renderMarkdown(results: PgrigResults, options: MarkdownOptions = {}): string {
  const outcome = overallOutcome(results)
  const all = countStatuses(results.runs.flatMap((run) => run.tests))
  const multiRun = results.runs.length > 1
  const lines: string[] = [
    `# pgrig test report: ${outcome === 'passed' ? '✅ passed' : outcome === 'failed' ? '❌ failed' : '⛔ interrupted'}`,
    '',
    `${all.total} tests${multiRun ? ` over ${results.runs.length} runs (${results.runs.map((r) => r.label).join(', ')})` : ''}: ${all.passed} passed, ${all.failed} failed, ${all.allowedFailures} allowed to fail, ${all.skipped} skipped.`,
    '',
  ]
  const allowed = failuresOf(results, 'allowed-failure')
  if (allowed.length > 0) {
    lines.push(
      `> [!WARNING]`,
      `> ${allowed.length} failure${allowed.length === 1 ? '' : 's'} in allowed-to-fail categories (${results.policy.allowedToFail.join(', ')}) did not fail the run:`,
      ...allowed.map(
        ({ run, test }) => `> - ${cell(titleOf(test))} (${run.label}; ${test.categories.join(', ')})`,
      ),
      '',
    )
  }
  const policyLine = [
    results.policy.mustPass.length ? `must pass: ${results.policy.mustPass.join(', ')}` : '',
    results.policy.allowedToFail.length ? `allowed to fail: ${results.policy.allowedToFail.join(', ')}` : '',
    results.policy.skip.length ? `skipped unless asked: ${results.policy.skip.join(', ')}` : '',
    results.policy.only.length ? `--only ${results.policy.only.join(',')}` : '',
    results.policy.skipSelected.length ? `--skip ${results.policy.skipSelected.join(',')}` : '',
  ].filter(Boolean)
  if (policyLine.length) lines.push(`Policy: ${policyLine.join(' · ')}`, '')

  lines.push(
    '## By PostgreSQL version',
    '',
    '| run | PostgreSQL | outcome | passed | failed | allowed to fail | skipped | duration |',
    '|---|---|---|---:|---:|---:|---:|---:|',
  )
  for (const run of results.runs) {
    const versions = [...new Set(run.environment.servers.map((s) => s.version).filter(Boolean))].join(', ')
    lines.push(
      `| ${cell(run.label)}${run.shards.length ? ` (shards ${run.shards.join(', ')})` : ''} | ${versions || run.pgVersion || '—'} | ${run.outcome} | ${countCells(countStatuses(run.tests))} | ${formatMs(run.durationMs)} |`,
    )
  }
  lines.push('', '## By category', '')
  if (multiRun) {
    lines.push(
      `| category | policy | ${results.runs.map((r) => `${cell(r.label)} (pass/fail/allowed/skip)`).join(' | ')} |`,
      `|---|---|${results.runs.map(() => '---|').join('')}`,
    )
    for (const c of countsByCategory(results)) {
      lines.push(
        `| ${c.category} | ${policyOf(results, c.category)} | ${c.perRun.map((n) => `${n.passed} / ${n.failed} / ${n.allowedFailures} / ${n.skipped}`).join(' | ')} |`,
      )
    }
  } else {
    lines.push(
      '| category | policy | passed | failed | allowed to fail | skipped |',
      '|---|---|---:|---:|---:|---:|',
    )
    for (const c of countsByCategory(results)) {
      lines.push(`| ${c.category} | ${policyOf(results, c.category)} | ${countCells(c.total)} |`)
    }
  }
  lines.push('')

  const failed = [...failuresOf(results, 'failed'), ...allowed]
  if (failed.length > 0) {
    lines.push('## Failures', '')
    for (const [i, { run, test }] of failed.entries())
      lines.push(...failureSection(run, test, multiRun, i === 0))
  }
  const unhandled = results.runs.flatMap((run) => run.unhandledErrors.map((error) => ({ run, error })))
  if (unhandled.length > 0) {
    lines.push('## Errors outside tests', '')
    for (const { run, error } of unhandled) {
      lines.push(`${multiRun ? `${run.label}: ` : ''}${fence(`${error.name}: ${error.message}`)}`, '')
    }
  }
  if (options.summaryOnly) return lines.join('\n')

  const rows = testRows(results)
  const withProvision = results.runs.some((run) => run.tests.some((t) => t.provisionMs !== null))
  lines.push('## Tests', '')
  const runHeads = results.runs.map((r) => cell(r.label))
  lines.push(
    `| test | file | categories | ${runHeads.join(' | ')}${withProvision ? ' | provisioning |' : ' |'}`,
    `|---|---|---|${runHeads.map(() => '---|').join('')}${withProvision ? '---:|' : ''}`,
  )
  for (const row of rows) {
    const cells = results.runs.map((_, i) => {
      const test = row.cells[i]
      if (!test) return '—'
      return `${ICON[test.status]} ${STATUS_LABEL[test.status]}${test.status === 'skipped' ? '' : ` ${formatMs(test.durationMs)}`}`
    })
    const provision = withProvision
      ? ` ${row.cells.map((t) => (t?.provisionMs != null ? formatMs(t.provisionMs) : '—')).join(' / ')} |`
      : ''
    lines.push(
      `| ${cell(row.title)} | ${cell(row.file)} | ${row.categories.join(', ')} | ${cells.join(' | ')} |${provision}`,
    )
  }
  lines.push('', ...environmentSection(results))
  return lines.join('\n')
}
