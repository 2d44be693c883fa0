import {
  generatedHeader,
  INTEGRATION_FILTER,
  laneCommands,
  WEEKLY_ONLY_CATEGORIES,
  type CiOptions,
} from '../lanes.js'

export const MAKEFILE_PATH = 'Makefile'

/** make expands `$`; the shell should see it. */
const forMake = (command: string) => command.replaceAll('$', '$$')

export function makefile(o: CiOptions): string {
  const c = laneCommands(o)
  const x = o.pm.exec
  const tool = o.pm.exec.split(' ')[0]!
  const need = (bin: string, how: string) =>
    `\t@command -v ${bin} >/dev/null 2>&1 || { echo "make: ${bin} was not found on PATH; ${how}" >&2; exit 1; }`
  return `${generatedHeader('#', 'Makefile: the same lanes as CI, on your machine.', o.services)}
# make test-integration PG_VERSIONS=15,16,17 runs the integration tests once per major, side by side.

PG_VERSIONS ?= ${o.versions.join(',')}

.PHONY: check-prereqs test-unit test-integration test-all

check-prereqs:
${need('node', `install Node.js ${o.node} or newer (https://nodejs.org) and retry`)}
${need(tool, tool === 'npx' ? 'it ships with Node.js; reinstall Node.js and retry' : `enable it with corepack enable (Node.js ${o.node}+) and retry`)}
\t@node -e 'if (+process.versions.node.split(".")[0] < ${o.node}) { console.error("make: Node.js ${o.node} or newer is needed, found " + process.version); process.exit(1) }'
\t@test -d node_modules || { echo "make: node_modules is missing; run ${o.pm.install} first" >&2; exit 1; }

test-unit: check-prereqs
\t${forMake(c.unit)}

test-integration: check-prereqs
\t${x} pgrig run --pg $(PG_VERSIONS) --skip ${WEEKLY_ONLY_CATEGORIES} -- ${x} vitest run ${INTEGRATION_FILTER} --passWithNoTests

test-all: check-prereqs
\t${c.comprehensive('$(PG_VERSIONS)', '$$')}
`
}
