import fs from 'node:fs'
import path from 'node:path'
import { mergeReports, REPORT_FILES } from '../report/index.js'

/**
 * Combines the reports pgrig's reporter wrote for each version of a matrix run into one, with a
 * column per version. A project that does not use the reporter has none, and nothing is merged.
 */
export function mergeVersionReports(dirs: string[], outDir: string): string | undefined {
  const inputs = dirs.filter((dir) => fs.existsSync(path.join(dir, REPORT_FILES.json)))
  if (inputs.length === 0) return undefined
  return mergeReports({ inputs, outDir }).files.html
}
