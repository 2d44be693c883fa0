import { PgrigError } from '../errors.js'
import { categoryDefinitions, type CategoryPolicy } from '../report/categories.js'

export interface Selection {
  /** `--only`: the categories to run, as the user wrote them. */
  only?: string | undefined
  /** `--skip`: the categories to leave out. */
  skip?: string | undefined
}

/** `--only smoke, transaction` → `smoke,transaction`: the form `PGRIG_ONLY` / `PGRIG_SKIP` carry. */
export function normalizeCategoryList(flag: string, raw: string): string {
  const categories = raw
    .split(',')
    .map((c) => c.trim())
    .filter(Boolean)
  const bad = categories.find((c) => !/^[\w-]+$/.test(c))
  if (bad !== undefined || categories.length === 0) {
    throw new PgrigError(
      'E_USAGE',
      `${flag} ${raw} is not a list of categories; write names separated by commas, e.g. ${flag} smoke,transaction`,
    )
  }
  return categories.join(',')
}

/**
 * `PGRIG_ONLY` / `PGRIG_SKIP`: the categories a test run selects, for the pgrig reporter to apply.
 * `policyOf` is read only when a category is named (it loads the config).
 */
export async function selectionEnv(
  selection: Selection,
  policyOf: () => Promise<CategoryPolicy>,
): Promise<Record<string, string>> {
  const env: Record<string, string> = {}
  if (selection.only !== undefined) env.PGRIG_ONLY = normalizeCategoryList('--only', selection.only)
  if (selection.skip !== undefined) env.PGRIG_SKIP = normalizeCategoryList('--skip', selection.skip)
  if (env.PGRIG_ONLY || env.PGRIG_SKIP) checkCategoriesKnown(await policyOf(), env)
  return env
}

/** A misspelt category would select nothing and pass silently: refuse names neither pgrig nor the policy defines. */
function checkCategoriesKnown(policy: CategoryPolicy, env: Record<string, string>): void {
  const known = categoryDefinitions(policy).map((c) => c.name)
  for (const [flag, list] of [
    ['--only', env.PGRIG_ONLY],
    ['--skip', env.PGRIG_SKIP],
  ] as const) {
    // `--only all` selects every category, slow and destructive too (the comprehensive CI lane).
    const unknown = list
      ?.split(',')
      .find((name) => !known.includes(name) && !(flag === '--only' && name === 'all'))
    if (unknown === undefined) continue
    throw new PgrigError(
      'E_USAGE',
      `${flag} ${unknown}: no such test category, so it would select nothing; pick from ${known.join(', ')} (or all, with --only), or define it under policy.categories in pgrig.config`,
    )
  }
}
