import path from 'node:path'
import type { Command } from 'commander'
import { categoryDefinitions, resolvePolicy, type CategoryPolicy } from '../../report/categories.js'
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
  report
    .command('policy')
    .description(
      "print the config's category policy, resolved, as JSON (for other runners' plugins, e.g. pytest-pgrig)",
    )
    .option('--config <file>', 'config file (default: pgrig.config.* found from the current folder)')
    .option('--only <categories>', 'the categories to run (default: PGRIG_ONLY)')
    .option('--skip <categories>', 'the categories to leave out (default: PGRIG_SKIP)')
    .action(async (flags: { config?: string; only?: string; skip?: string }) => {
      const { loadConfig } = await import('../../config/load.js')
      const loaded = await loadConfig(flags.config)
      const policy = (loaded?.config as { policy?: CategoryPolicy } | undefined)?.policy ?? {}
      const env = {
        PGRIG_ONLY: flags.only ?? process.env.PGRIG_ONLY,
        PGRIG_SKIP: flags.skip ?? process.env.PGRIG_SKIP,
      }
      const body = {
        config: loaded?.file ?? null,
        policy: resolvePolicy(policy, env),
        categories: categoryDefinitions(policy),
      }
      process.stdout.write(JSON.stringify(body) + '\n')
    })
  report
    .command('write')
    .description(
      "complete the results another runner's plugin wrote (environment, version label, passwords hidden) and write results.json, report.md and report.html",
    )
    .argument('<results>', 'the results file the plugin wrote (schema pgrig-results)')
    .option('--out <dir>', "report folder (default: the results file's folder)")
    .option('--redact <file>', 'hide passwords in another file the runner wrote (its junit.xml), in place')
    .action(async (file: string, flags: { out?: string; redact?: string }) => {
      const { completeRunnerResults, redactFileInPlace } = await import('../../report/runner-results.js')
      const { writeReports } = await import('../../report/write.js')
      const results = await completeRunnerResults(path.resolve(file))
      const files = writeReports(results, path.resolve(flags.out ?? path.dirname(file)))
      if (flags.redact) redactFileInPlace(path.resolve(flags.redact))
      const relative = path.relative(process.cwd(), files.html)
      process.stderr.write(`pgrig: report ${relative.startsWith('..') ? files.html : relative}\n`)
    })
}
