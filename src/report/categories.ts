import { PgrigError } from '../errors.js'
import type { PolicyRecord } from './results.js'

/** The categories pgrig knows out of the box; a policy may add its own. */
export const BUILTIN_CATEGORIES = [
  'smoke',
  'property',
  'concurrent',
  'transaction',
  'resource',
  'corruption',
  'recovery',
  'load',
  'migration',
  'slow',
  'destructive',
] as const

export type BuiltinCategory = (typeof BUILTIN_CATEGORIES)[number]

export interface CategoryDefinition {
  name: string
  description?: string
  /** Per-test timeout in ms for tests tagged with this category. */
  timeout?: number
}

/** What may fail, what is skipped unless asked, and how long each category may take. */
export interface CategoryPolicy {
  /** Categories beyond the built-in ones (names or definitions). */
  categories?: Array<string | CategoryDefinition>
  /** Failures here always fail the run, even when another category of the test is allowed to fail. */
  mustPass?: string[]
  /** Failures here are reported prominently but do not fail the run. */
  allowedToFail?: string[]
  /** Skipped unless asked for with `--only <category>` (or `--only all`). Default: `['destructive']`. */
  skip?: string[]
  /** Per-category test timeouts in ms, e.g. `{ slow: 120_000 }`. */
  timeouts?: Record<string, number>
}

const CATEGORY_NAME = /^[a-z][a-z0-9_-]*$/

const DESCRIPTIONS: Record<BuiltinCategory, string> = {
  smoke: 'fast checks that the basics work',
  property: 'property-based tests',
  concurrent: 'many clients at once',
  transaction: 'transaction semantics and isolation',
  resource: 'connection, memory and file limits',
  corruption: 'detecting and surviving corrupted data',
  recovery: 'crash and restart recovery',
  load: 'sustained load',
  migration: 'schema migrations',
  slow: 'tests that take long',
  destructive: 'tests that kill, corrupt or exhaust servers',
}

/** Whether two different names differ by one inserted, deleted or replaced letter. */
function oneEditApart(a: string, b: string): boolean {
  if (a === b || Math.abs(a.length - b.length) > 1) return false
  let i = 0
  while (i < a.length && a[i] === b[i]) i++
  const rest = (x: string, skip: number) => x.slice(i + skip)
  if (a.length === b.length) return rest(a, 1) === rest(b, 1)
  return a.length > b.length ? rest(a, 1) === rest(b, 0) : rest(a, 0) === rest(b, 1)
}

export function parseCategoryList(value: string | undefined): string[] {
  if (!value) return []
  return [
    ...new Set(
      value
        .split(',')
        .map((s) => s.trim().toLowerCase())
        .filter(Boolean),
    ),
  ]
}

/**
 * Every category definition the policy knows: built-ins first, then the user's (listed under `categories`
 * or named by `mustPass`, `allowedToFail`, `skip` or `timeouts`), with timeouts applied.
 */
export function categoryDefinitions(policy: CategoryPolicy = {}): CategoryDefinition[] {
  const byName = new Map<string, CategoryDefinition>()
  for (const name of BUILTIN_CATEGORIES) byName.set(name, { name, description: DESCRIPTIONS[name] })
  for (const entry of policy.categories ?? []) {
    const definition = typeof entry === 'string' ? { name: entry } : entry
    byName.set(definition.name, { ...byName.get(definition.name), ...definition })
  }
  // A category the policy names (`allowedToFail: ['flaky']`) is one of its categories: tests may carry it,
  // `--only` / `--skip` may pick it. A name one letter away from a defined one (`smokee`) is a typo, not a
  // new category: left undefined, so resolvePolicy refuses it.
  const defined = [...byName.keys(), ...Object.keys(policy.timeouts ?? {})]
  for (const name of [...(policy.mustPass ?? []), ...(policy.allowedToFail ?? []), ...(policy.skip ?? [])]) {
    if (!byName.has(name) && !defined.some((other) => oneEditApart(name, other))) byName.set(name, { name })
  }
  for (const [name, timeout] of Object.entries(policy.timeouts ?? {})) {
    byName.set(name, { ...(byName.get(name) ?? { name }), timeout })
  }
  return [...byName.values()]
}

/** The policy with its defaults filled in and the run's `--only`/`--skip` choice (from the environment). */
export function resolvePolicy(
  policy: CategoryPolicy = {},
  env: NodeJS.ProcessEnv = process.env,
): PolicyRecord {
  const known = new Set(categoryDefinitions(policy).map((c) => c.name))
  const only = parseCategoryList(env.PGRIG_ONLY)
  const skipSelected = parseCategoryList(env.PGRIG_SKIP)
  const named = [
    ...categoryDefinitions(policy).map((c) => c.name),
    ...(policy.mustPass ?? []),
    ...(policy.allowedToFail ?? []),
    ...(policy.skip ?? []),
    ...Object.keys(policy.timeouts ?? {}),
    ...only.filter((c) => c !== 'all'),
    ...skipSelected,
  ]
  for (const name of named) {
    if (!CATEGORY_NAME.test(name)) {
      throw new PgrigError(
        'E_CONFIG_INVALID',
        `category "${name}" is not a valid name; use lower-case letters, digits, - and _`,
      )
    }
    if (!known.has(name)) {
      throw new PgrigError(
        'E_CONFIG_INVALID',
        `category "${name}" is not defined (known: ${[...known].join(', ')}); add it to the policy's categories`,
      )
    }
  }
  return {
    mustPass: policy.mustPass ?? [],
    allowedToFail: policy.allowedToFail ?? [],
    skip: policy.skip ?? ['destructive'],
    only,
    skipSelected,
    timeouts: Object.fromEntries(
      categoryDefinitions(policy)
        .filter((c) => c.timeout !== undefined)
        .map((c) => [c.name, c.timeout as number]),
    ),
  }
}

const MARKER = /\[([a-z][a-z0-9_-]*)\]/g

/**
 * A test's categories: its Vitest tags, plus `[category]` markers in its own or its suites' names
 * (markers count only for known categories, so `[id]` in a name is not mistaken for one).
 */
export function categoriesOf(
  tags: readonly string[],
  names: readonly string[],
  known: ReadonlySet<string>,
): string[] {
  const found = new Set(tags)
  for (const name of names) {
    for (const match of name.matchAll(MARKER)) {
      const category = match[1] as string
      if (known.has(category)) found.add(category)
    }
  }
  return [...found].sort()
}

/** Why a test with these categories must not run under the policy and selection, or undefined to run it. */
export function skipReason(categories: readonly string[], policy: PolicyRecord): string | undefined {
  const skipped = categories.find((c) => policy.skipSelected.includes(c))
  if (skipped) return `pgrig: category ${skipped} skipped (--skip ${skipped})`
  const all = policy.only.includes('all')
  if (policy.only.length > 0 && !all && !categories.some((c) => policy.only.includes(c))) {
    return `pgrig: not in the selected categories (--only ${policy.only.join(',')})`
  }
  const unasked = categories.find((c) => policy.skip.includes(c) && !all && !policy.only.includes(c))
  if (unasked) return `pgrig: ${unasked} tests run only when asked (--only ${unasked})`
  return undefined
}

/** A failure is allowed when the test is in an allowed-to-fail category and in no must-pass one. */
export function failureAllowed(categories: readonly string[], policy: PolicyRecord): boolean {
  if (categories.some((c) => policy.mustPass.includes(c))) return false
  return categories.some((c) => policy.allowedToFail.includes(c))
}
