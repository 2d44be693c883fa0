import {
  countStatuses,
  type Environment,
  type PgrigResults,
  type RunRecord,
  type StatusCounts,
  type TestRecord,
  type TestStatus,
} from './results.js'

/** Shared shaping for the Markdown and HTML renderers: one row per test, one cell per run. */
export interface TestRow {
  key: string
  file: string
  title: string
  categories: string[]
  cells: Array<TestRecord | undefined>
}

export const STATUS_LABEL: Record<TestStatus, string> = {
  passed: 'passed',
  failed: 'failed',
  'allowed-failure': 'allowed to fail',
  skipped: 'skipped',
}

export function titleOf(test: TestRecord): string {
  return [...test.suite, test.name].join(' › ')
}

export function testRows(results: PgrigResults): TestRow[] {
  const rows = new Map<string, TestRow>()
  results.runs.forEach((run, index) => {
    for (const test of run.tests) {
      const key = `${test.file}\u0000${titleOf(test)}`
      let row = rows.get(key)
      if (!row) {
        row = { key, file: test.file, title: titleOf(test), categories: test.categories, cells: [] }
        rows.set(key, row)
      }
      row.cells[index] = test
    }
  })
  return [...rows.values()]
}

export interface CategoryCounts {
  category: string
  perRun: StatusCounts[]
  total: StatusCounts
}

export const UNCATEGORISED = '(none)'

export function countsByCategory(results: PgrigResults): CategoryCounts[] {
  const names = new Set<string>()
  for (const run of results.runs) for (const test of run.tests) for (const c of test.categories) names.add(c)
  const sorted = [...names].sort()
  const inCategory = (run: RunRecord, category: string) =>
    run.tests.filter((t) =>
      category === UNCATEGORISED ? t.categories.length === 0 : t.categories.includes(category),
    )
  return [...sorted, UNCATEGORISED]
    .map((category) => ({
      category,
      perRun: results.runs.map((run) => countStatuses(inCategory(run, category))),
      total: countStatuses(results.runs.flatMap((run) => inCategory(run, category))),
    }))
    .filter((c) => c.total.total > 0)
}

export function policyOf(results: PgrigResults, category: string): string {
  const { policy } = results
  const notes: string[] = []
  if (policy.mustPass.includes(category)) notes.push('must pass')
  if (policy.allowedToFail.includes(category)) notes.push('allowed to fail')
  if (policy.skip.includes(category)) notes.push('skipped unless asked')
  if (policy.timeouts[category] !== undefined) notes.push(`timeout ${policy.timeouts[category]} ms`)
  return notes.join(', ')
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`
}

export function failuresOf(
  results: PgrigResults,
  status: TestStatus,
): Array<{ run: RunRecord; test: TestRecord }> {
  return results.runs.flatMap((run) =>
    run.tests.filter((t) => t.status === status).map((test) => ({ run, test })),
  )
}

/** `Vitest 4.1.12`, or the other runner that wrote the results (`pytest 7.2.1 (Python 3.11.2)`). */
export function runnerOf(env: Environment): string {
  return env.runner ?? `Vitest ${env.vitest ?? 'unknown'}`
}
