import { BLOB_DIR, generatedHeader, laneCommands, REPORT_PATHS, type CiOptions } from '../lanes.js'

export const GITHUB_WORKFLOW_PATH = '.github/workflows/test.yml'

export const PYTHON_VERSION = '3.12'

function setupSteps(o: CiOptions): string {
  if (o.tests.language === 'python') {
    const node = o.tests.hasPackageJson
      ? `      - uses: actions/setup-node@v4
        with:
          node-version: ${o.node}
          cache: ${o.pm.name}
      - run: ${laneCommands(o).install}
`
      : `      - uses: actions/setup-node@v4
        with:
          node-version: ${o.node}
`
    return `      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: '${PYTHON_VERSION}'
${node}${o.tests
      .pythonInstall!.map(
        (line) => `      - run: ${line}
`,
      )
      .join('')}`
  }
  const pnpm =
    o.pm.name === 'pnpm'
      ? `      - uses: pnpm/action-setup@v4
${o.pnpmVersion ? `        with:\n          version: ${o.pnpmVersion}\n` : ''}`
      : ''
  const corepack = o.pm.name === 'yarn' ? `      - run: corepack enable\n` : ''
  return `      - uses: actions/checkout@v4
${pnpm}${corepack}      - uses: actions/setup-node@v4
        with:
          node-version: ${o.node}
          cache: ${o.pm.name}
      - run: ${laneCommands(o).install}
`
}

function lintJob(o: CiOptions): string {
  const c = laneCommands(o)
  return `  lint:
    if: github.event_name != 'schedule'
    runs-on: ubuntu-latest
    timeout-minutes: 10
    steps:
${setupSteps(o)}      - run: ${c.lint}
      - run: ${c.typecheck}

`
}

function unitJob(o: CiOptions): string {
  return `  unit:
    if: github.event_name != 'schedule'
    runs-on: ubuntu-latest
    timeout-minutes: 10
    steps:
${setupSteps(o)}      - run: ${laneCommands(o).unit}
      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: junit-unit
          path: reports/

`
}

export function githubWorkflow(o: CiOptions): string {
  const c = laneCommands(o)
  const shards = Array.from({ length: o.shards }, (_, i) => i + 1).join(', ')
  const reportPaths = REPORT_PATHS.map((p) => `            ${p}`).join('\n')
  return `${generatedHeader('#', 'GitHub Actions: lint, unit, integration over PostgreSQL majors × shards, weekly comprehensive lane.', o.services, o.tests)}
name: test

on:
  push:
    branches: [main]
  pull_request:
  schedule:
    # The comprehensive lane: every category, including slow, destructive and allowed-to-fail ones.
    - cron: '23 3 * * 1'
  workflow_dispatch:

permissions:
  contents: read

concurrency:
  group: \${{ github.workflow }}-\${{ github.ref }}
  cancel-in-progress: \${{ github.event_name == 'pull_request' }}

env:
  CI: true

jobs:
${o.tests.language === 'js' ? lintJob(o) : ''}${o.unit ? unitJob(o) : ''}  integration:
    if: github.event_name != 'schedule'
    runs-on: ubuntu-latest
    timeout-minutes: 30
    strategy:
      fail-fast: false
      matrix:
        pg: [${o.versions.join(', ')}]
        shard: [${shards}]
    name: integration (PostgreSQL \${{ matrix.pg }}, shard \${{ matrix.shard }}/${o.shards})
    steps:
${setupSteps(o)}      - uses: actions/cache@v4
        with:
          # PostgreSQL binaries pgrig installs on first use (~25 MB per major).
          path: ~/.cache/pgrig/engines
          key: pgrig-engines-\${{ runner.os }}-pg\${{ matrix.pg }}
      - run: ${c.integration('${{ matrix.pg }}', '${{ matrix.shard }}')}
      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: integration-pg\${{ matrix.pg }}-shard\${{ matrix.shard }}
          include-hidden-files: true
          path: |
${reportPaths}${o.tests.runner === 'vitest' ? `\n            ${BLOB_DIR}` : ''}

  report:
    # Runs when a shard failed too: the merged report is what tells which version broke.
    if: always() && github.event_name != 'schedule' && needs.integration.result != 'skipped'
    needs: integration
    runs-on: ubuntu-latest
    timeout-minutes: 10
    steps:
${setupSteps(o)}      - uses: actions/download-artifact@v4
        with:
          pattern: integration-*
          merge-multiple: true
${
  c.mergeJunit
    ? `      - run: ${c.mergeJunit}
`
    : ''
}      # Also writes the step summary: pass/fail by category and PostgreSQL version.
      - run: ${c.mergeReports}
        if: always()
      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: test-report
          path: |
${reportPaths}

  comprehensive:
    if: github.event_name == 'schedule' || github.event_name == 'workflow_dispatch'
    runs-on: ubuntu-latest
    timeout-minutes: 120
    permissions:
      contents: read
      issues: write
    steps:
${setupSteps(o)}      - uses: actions/cache@v4
        with:
          path: ~/.cache/pgrig/engines
          key: pgrig-engines-\${{ runner.os }}-pg${o.versions.join('-')}
      # One run per version side by side; pgrig combines their reports and writes the step summary.
      - run: ${c.comprehensive()}
      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: comprehensive-report
          path: |
${reportPaths}
      - name: Open an issue
        if: failure() && github.event_name == 'schedule'
        uses: actions/github-script@v7
        with:
          script: |
            const run = \`\${context.serverUrl}/\${context.repo.owner}/\${context.repo.repo}/actions/runs/\${context.runId}\`
            await github.rest.issues.create({
              owner: context.repo.owner,
              repo: context.repo.repo,
              title: \`Weekly comprehensive tests failed (\${new Date().toISOString().slice(0, 10)})\`,
              body: \`The scheduled run across PostgreSQL ${o.versions.join(', ')} failed: \${run}\\n\\nThe comprehensive-report artifact has the per-version report.\`,
            })
`
}
