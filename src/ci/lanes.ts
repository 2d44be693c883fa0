import type { TestPlan } from './detect.js'
import type { PackageManagerCommands } from './package-manager.js'

/** What `pgrig init ci` was asked for, shared by every CI system's template. */
export interface CiOptions {
  /** PostgreSQL majors of the integration matrix, e.g. ['15', '16', '17']. */
  versions: string[]
  shards: number
  pm: PackageManagerCommands
  /** Node.js major the jobs run on. */
  node: string
  /** pnpm's setup action needs a version unless package.json pins one in `packageManager`. */
  pnpmVersion?: string
  /** The config's services, which `pgrig run` starts in every lane that runs it. */
  services?: CiService[]
  /** The project's runner and test files, as `detectTests` found them. */
  tests: TestPlan
  /** Whether a unit lane (the tests outside the integration glob) is written. */
  unit: boolean
}

/** A configured service as the CI files describe it, placeholders filled with example values. */
export interface CiService {
  name: string
  /** The command as configured, placeholders left in: what the job's machine must be able to run. */
  command: string
  env: Record<string, string>
}

/** The categories the pull-request lane leaves to the weekly lane. */
export const WEEKLY_ONLY_CATEGORIES = 'slow,destructive'

/** Integration tests are the files named `*.integration.test.*`; every other test file is a unit test. */
export const INTEGRATION_FILTER = '.integration.test.'

/** A glob's longest literal part: Vitest filters and Jest patterns match file paths by substring. */
export function globLiteral(glob: string): string {
  const parts = glob.split(/[*?{}[\]()!+@]+/).filter(Boolean)
  return parts.sort((a, b) => b.length - a.length)[0] ?? glob
}

const regexOf = (literal: string) => literal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/** A word for sh: quoted when it has anything the shell would read. */
const shq = (word: string) => (/^[\w./=-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`)

/**
 * The commands of every lane, the same in GitHub Actions, GitLab CI, Jenkins and the Makefile.
 * `pg` and `shard` are each CI system's own way to write the matrix values. No lane passes on zero
 * tests: Vitest, Jest and pytest fail when they find none; node:test's JUnit file is checked.
 */
export function laneCommands(o: CiOptions) {
  const x = o.pm.exec
  const t = o.tests
  // A Python project without package.json gets pgrig from the registry.
  const npx = t.language === 'python' && !t.hasPackageJson ? 'npx --yes' : x
  const junit = (file: string) => `--reporter=default --reporter=junit --outputFile.junit=${file}`
  const literal = t.integrationGlob ? globLiteral(t.integrationGlob) : undefined
  const pgrigRun = (pg: string, shard: string) =>
    `${npx} pgrig run --pg ${pg} --skip ${WEEKLY_ONLY_CATEGORIES} --report-dir pgrig-report/pg${pg}-shard${shard}`
  const otherJunit = (pg: string, shard: string) => `reports/pg${pg}/junit-shard${shard}.xml`
  /** node --test and pytest take folders: the integration glob's folder part. */
  const globDir = () =>
    t.integrationGlob ? ` ${shq(t.integrationGlob.split(/[*?{[]/)[0]!.replace(/\/$/, '') || '.')}` : ''
  /** The command of the runner, selecting the integration tests, without matrix options. */
  const runnerCommand = (): string => {
    switch (t.runner) {
      case 'vitest':
        return `${x} vitest run${literal ? ` ${shq(literal)}` : ''}`
      case 'jest':
        return `${x} jest --ci${literal ? ` ${shq(regexOf(literal))}` : ''}`
      case 'node':
        return `node --test${t.integrationGlob ? globDir() : t.nodeArgs ? ` ${t.nodeArgs}` : ''}`
      case 'pytest':
        return `python -m pytest${globDir()}`
      case 'custom':
        return t.command!
    }
  }
  const noTestsGuard = (file: string) =>
    ` && { grep -q '<testcase' ${file} || { echo "pgrig: no tests ran (${file} has no test case)" >&2; exit 1; }; }`
  const integration = (pg: string, shard: string): string => {
    const run = pgrigRun(pg, shard)
    switch (t.runner) {
      case 'vitest':
        return (
          `${run} -- ${runnerCommand()} --shard=${shard}/${o.shards}` +
          ` ${junit(`reports/junit-pg${pg}-shard${shard}.xml`)}` +
          ` --reporter=blob --outputFile.blob=${BLOB_DIR}blob-pg${pg}-shard${shard}.json`
        )
      case 'jest':
        return `${run} -- ${runnerCommand()} --shard=${shard}/${o.shards}`
      case 'node': {
        const file = otherJunit(pg, shard)
        return (
          `mkdir -p reports/pg${pg} && ${run} -- ${runnerCommand()} --test-shard=${shard}/${o.shards}` +
          ` --test-reporter=spec --test-reporter-destination=stdout --test-reporter=junit --test-reporter-destination=${file}` +
          noTestsGuard(file)
        )
      }
      case 'pytest':
        return `${run} -- ${runnerCommand()} --junitxml=${otherJunit(pg, shard)}`
      case 'custom':
        return `${run} -- ${runnerCommand()}`
    }
  }
  return {
    install: o.pm.install,
    lint: o.pm.runIfPresent('lint'),
    typecheck: o.pm.runIfPresent('typecheck'),
    /** The tests outside the integration glob (only written when `o.unit`). */
    unit:
      t.runner === 'jest'
        ? `${x} jest --ci --testPathIgnorePatterns ${shq(regexOf(literal ?? INTEGRATION_FILTER))}`
        : `${x} vitest run --exclude "${t.integrationGlob ?? `**/*${INTEGRATION_FILTER}*`}" ${junit('reports/junit-unit.xml')}`,
    integration,
    /** The integration tests once per version, side by side, for the Makefile (no shards, no JUnit). */
    integrationLocal: (versions: string) =>
      `${npx} pgrig run --pg ${versions} --skip ${WEEKLY_ONLY_CATEGORIES} -- ${runnerCommand()}`,
    /** Where the shards' JUnit files are (for GitLab's test report). */
    junitGlob: t.runner === 'vitest' ? 'reports/junit-pg*.xml' : 'reports/pg*/junit-*.xml',
    /**
     * Vitest's own merge of the shard blobs: one JUnit file for every version and shard. pgrig's
     * reporter, when configured, runs here too; its report goes aside (the per-version one is
     * mergeReports') and it leaves the step summary to mergeReports. Skipped when no shard wrote a blob.
     */
    mergeJunit:
      t.runner === 'vitest'
        ? `if ls ${BLOB_DIR}*.json >/dev/null 2>&1; then GITHUB_STEP_SUMMARY= PGRIG_REPORT_DIR=reports/all-shards` +
          ` ${x} vitest --merge-reports=${BLOB_DIR.replace(/\/$/, '')} ${junit('reports/junit-integration.xml')}; fi`
        : undefined,
    /**
     * pgrig's merge of its per-version, per-shard reports: one Markdown + HTML report with a column
     * per version, and the step summary on GitHub. From pgrig's reporter's results when the project
     * uses it, else from the runner's JUnit files.
     */
    mergeReports:
      `if ls pgrig-report/*/results.json >/dev/null 2>&1;` +
      ` then ${npx} pgrig report merge pgrig-report/*/ --out pgrig-report/merged;` +
      (t.runner === 'vitest'
        ? ''
        : ` elif ls reports/pg*/junit-*.xml >/dev/null 2>&1; then ${npx} pgrig report merge reports/pg*/junit-*.xml --out pgrig-report/merged;`) +
      ` fi`,
    /** Every category (`--only all`: slow, destructive and allowed-to-fail too), once per version. */
    comprehensive: (versions = o.versions.join(','), dollar = '$') => {
      const all = `${npx} pgrig run --pg ${versions} --only all --report-dir pgrig-report`
      const file = `"${dollar}PGRIG_REPORT_DIR/junit.xml"`
      switch (t.runner) {
        case 'vitest':
          return `${all} -- sh -c '${x} vitest run ${junit(file)}'`
        case 'jest':
          return `${all} -- ${x} jest --ci`
        case 'node':
          return (
            `${all} -- sh -c 'node --test${t.nodeArgs ? ` ${t.nodeArgs}` : ''} --test-reporter=spec --test-reporter-destination=stdout` +
            ` --test-reporter=junit --test-reporter-destination=${file}'`
          )
        case 'pytest':
          return `${all} -- sh -c 'python -m pytest --junitxml=${file}'`
        case 'custom':
          return `${all} -- ${t.command}`
      }
    },
  }
}

export const REPORT_PATHS = ['reports/', 'pgrig-report/'] as const
export const BLOB_DIR = '.vitest-reports/'

function testsNote(comment: string, tests?: TestPlan): string[] {
  if (tests?.language === 'python')
    return [
      `${comment} pytest runs under \`pgrig run\` (DATABASE_URL and the PG* variables set), once per PostgreSQL major;`,
      `${comment} its JUnit files make the merged report. It fails when pytest collects no test (exit 5).`,
    ]
  const integration = tests?.integrationGlob
  return [
    integration
      ? `${comment} Integration tests are the files ${integration === `**/*${INTEGRATION_FILTER}*` ? `named *${INTEGRATION_FILTER}*` : `matching ${integration}`}; every other test file is a unit test.`
      : `${comment} Every test file (${tests?.testGlobs.join(', ')}) runs under pgrig run; there is no separate unit lane.`,
    ...(tests?.runner === 'vitest' || !tests
      ? [
          `${comment} Add pgrigReport() from 'pgrig/reporter' to the plugins in vitest.config for test categories,`,
          `${comment} Markdown/HTML reports with a column per PostgreSQL version, and the GitHub step summary.`,
        ]
      : []),
  ]
}

export function generatedHeader(
  comment: string,
  what: string,
  services: CiService[] = [],
  tests?: TestPlan,
): string {
  const note = services.length
    ? [
        `${comment} pgrig run also starts the services of pgrig.config and exports their variables; the job's`,
        `${comment} machine needs their programs on PATH:`,
        ...services.map(
          (s) =>
            `${comment}   ${s.name}: ${s.command}${Object.keys(s.env).length ? ` (exports ${Object.keys(s.env).join(', ')})` : ''}`,
        ),
      ]
    : []
  return [
    `${comment} ${what}`,
    `${comment} Generated by \`pgrig init ci\`; edit freely, it is yours now.`,
    `${comment} pgrig starts real PostgreSQL servers for the tests (no Docker, no service containers).`,
    ...testsNote(comment, tests),
    ...note,
  ].join('\n')
}
