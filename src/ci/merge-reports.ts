/**
 * The seam to the report layer: once `src/report/index.ts` exports `mergeReports`, a matrix run
 * combines its per-version reports with it. Imported by a computed specifier so this layer builds
 * and runs before the report layer exists.
 */
export interface MergeInput {
  inputs: string[]
  outDir: string
}

type MergeReports = (input: MergeInput) => Promise<unknown>

export async function mergeVersionReports(input: MergeInput): Promise<boolean> {
  const specifier = '../report/index.js'
  const report = (await import(specifier).catch(() => undefined)) as
    { mergeReports?: MergeReports } | undefined
  if (typeof report?.mergeReports !== 'function') return false
  await report.mergeReports(input)
  return true
}
