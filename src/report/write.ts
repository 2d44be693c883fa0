import fs from 'node:fs'
import path from 'node:path'
import { renderHtml } from './html.js'
import { renderMarkdown } from './markdown.js'
import type { PgrigResults } from './results.js'

export interface WrittenReport {
  json: string
  markdown: string
  html: string
}

export const REPORT_FILES = {
  json: 'results.json',
  markdown: 'report.md',
  html: 'report.html',
  junit: 'junit.xml',
}

/** Writes results.json, report.md and report.html into `outDir`, and the step summary on GitHub. */
export function writeReports(
  results: PgrigResults,
  outDir: string,
  env: NodeJS.ProcessEnv = process.env,
): WrittenReport {
  fs.mkdirSync(outDir, { recursive: true })
  const written: WrittenReport = {
    json: path.join(outDir, REPORT_FILES.json),
    markdown: path.join(outDir, REPORT_FILES.markdown),
    html: path.join(outDir, REPORT_FILES.html),
  }
  fs.writeFileSync(written.json, JSON.stringify(results, null, 2) + '\n')
  fs.writeFileSync(written.markdown, renderMarkdown(results))
  fs.writeFileSync(written.html, renderHtml(results))
  if (env.GITHUB_STEP_SUMMARY) {
    // GitHub caps a step summary at 1 MiB: the summary form leaves out passing tests.
    fs.appendFileSync(env.GITHUB_STEP_SUMMARY, renderMarkdown(results, { summaryOnly: true }) + '\n')
  }
  return written
}
