import { BLOB_DIR, generatedHeader, laneCommands, REPORT_PATHS, type CiOptions } from '../lanes.js'

export const GITLAB_CI_PATH = '.gitlab-ci.yml'

function cacheKeyFile(o: CiOptions): string {
  return o.pm.lockfile
}

function installLines(o: CiOptions): string {
  if (o.tests.language === 'python') {
    // node:N-bookworm has Node; Debian's Python comes from apt, in a venv so pip may install.
    return [
      '    - apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 python3-venv python3-pip >/dev/null',
      '    - python3 -m venv .venv',
      '    - . .venv/bin/activate',
      ...(o.tests.hasPackageJson ? ['    - npm ci --cache .npm --prefer-offline'] : []),
      ...o.tests.pythonInstall!.map((line) => `    - ${line}`),
    ].join('\n')
  }
  if (o.pm.name === 'pnpm')
    return `    - corepack enable\n    - pnpm config set store-dir .pnpm-store\n    - ${o.pm.install}`
  if (o.pm.name === 'yarn') return `    - corepack enable\n    - ${o.pm.install} --cache-folder .yarn-cache`
  return `    - npm ci --cache .npm --prefer-offline`
}

function lintJob(o: CiOptions): string {
  const c = laneCommands(o)
  return `lint:
  stage: check
  extends: .pull-request-lane
  timeout: 10m
  script:
    - ${c.lint}
    - ${c.typecheck}

`
}

function unitJob(o: CiOptions): string {
  return `unit:
  stage: test
  extends: .pull-request-lane
  timeout: 10m
  script:
    - ${laneCommands(o).unit}
  artifacts:
    when: always
    reports:
      junit: reports/junit-unit.xml

`
}

export function gitlabCi(o: CiOptions): string {
  const c = laneCommands(o)
  const paths = [...REPORT_PATHS].map((p) => `      - ${p}`).join('\n')
  return `${generatedHeader('#', 'GitLab CI: lint, unit, integration over PostgreSQL majors × shards, weekly comprehensive lane.', o.services, o.tests)}
# The comprehensive lane runs on pipeline schedules (CI/CD > Schedules, e.g. weekly); to have a failed
# schedule open an issue, set a masked ISSUE_TOKEN variable (a project access token with api scope).

workflow:
  rules:
    - if: $CI_PIPELINE_SOURCE == "merge_request_event"
    - if: $CI_PIPELINE_SOURCE == "schedule"
    - if: $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH

stages:
  - check
  - test
  - report

variables:
  # PostgreSQL binaries pgrig installs on first use, kept in the cache between pipelines.
  PGRIG_CACHE_DIR: $CI_PROJECT_DIR/.pgrig-cache

default:
  image: node:${o.node}-bookworm
  interruptible: true
  timeout: 30m
  cache:
    - key:
        files:
          - ${cacheKeyFile(o)}
      paths:
        - .npm/
        - .pnpm-store/
        - .yarn-cache/
    - key: pgrig-engines
      paths:
        - .pgrig-cache/engines/
  before_script:
${installLines(o)}

.pull-request-lane:
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule"
      when: never
    - when: on_success

${o.tests.language === 'js' ? lintJob(o) : ''}${o.unit ? unitJob(o) : ''}integration:
  stage: test
  extends: .pull-request-lane
  parallel:
    matrix:
      - PG: [${o.versions.map((v) => `"${v}"`).join(', ')}]
        SHARD: [${Array.from({ length: o.shards }, (_, i) => `"${i + 1}"`).join(', ')}]
  script:
    - ${c.integration('$PG', '$SHARD')}
  artifacts:
    when: always
    reports:
      junit: ${c.junitGlob}
    paths:
${paths}${o.tests.runner === 'vitest' ? `\n      - ${BLOB_DIR}` : ''}

report:
  stage: report
  needs: [integration]
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule"
      when: never
    - when: always
  timeout: 10m
  script:
${c.mergeJunit ? `    - ${c.mergeJunit} || true\n` : ''}    - ${c.mergeReports}
  artifacts:
    when: always
    paths:
${paths}

comprehensive:
  stage: test
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule"
  timeout: 2h
  script:
    - ${c.comprehensive()}
  artifacts:
    when: always
    reports:
      junit: pgrig-report/pg*/junit.xml
    paths:
${paths}

comprehensive-failed:
  stage: report
  rules:
    - if: $CI_PIPELINE_SOURCE == "schedule" && $ISSUE_TOKEN
      when: on_failure
  needs: [comprehensive]
  before_script: []
  script:
    - >-
      curl --fail --silent --show-error --request POST
      --header "PRIVATE-TOKEN: $ISSUE_TOKEN"
      --data-urlencode "title=Weekly comprehensive tests failed ($CI_PIPELINE_CREATED_AT)"
      --data-urlencode "description=The scheduled run across PostgreSQL ${o.versions.join(', ')} failed: $CI_PIPELINE_URL"
      "$CI_API_V4_URL/projects/$CI_PROJECT_ID/issues"
`
}
