import path from 'node:path'
import type { Command } from 'commander'
import { mergeReports } from '../../report/merge.js'
import { countStatuses, overallOutcome } from '../../report/results.js'

interface MergeFlags {
  out: string
  exitCode?: boolean
  stepSummary?: boolean
}

export function registerReport(program: Command): void {
  const report = program.command('report').description("combine and inspect pgrig's test reports")
  report
    .command('merge')
    .description(
      'merge the report folders of shards and PostgreSQL versions into one report (a column per version)',
    )
    .argument('<dirs...>', 'report folders (or results.json files) written by the pgrig reporter')
    .requiredOption('--out <dir>', 'folder for the combined results.json, report.md and report.html')
    .option('--exit-code', 'exit 1 when the merged results failed under the policy')
    .option('--no-step-summary', 'do not append the summary to GITHUB_STEP_SUMMARY')
    .action((dirs: string[], flags: MergeFlags) => {
      const { results, files } = mergeReports({
        inputs: dirs,
        outDir: path.resolve(flags.out),
        stepSummary: flags.stepSummary !== false,
      })
      const outcome = overallOutcome(results)
      const counts = countStatuses(results.runs.flatMap((run) => run.tests))
      process.stdout.write(
        `pgrig: merged ${dirs.length} report${dirs.length === 1 ? '' : 's'} into ${results.runs.length} run${results.runs.length === 1 ? '' : 's'} (${results.runs.map((r) => r.label).join(', ')}): ${outcome}; ${counts.passed} passed, ${counts.failed} failed, ${counts.allowedFailures} allowed to fail, ${counts.skipped} skipped\n` +
          `  html      ${files.html}\n  markdown  ${files.markdown}\n  json      ${files.json}\n`,
      )
      if (flags.exitCode && outcome !== 'passed') process.exitCode = 1
    })
}
