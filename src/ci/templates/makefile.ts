import { generatedHeader, laneCommands, type CiOptions } from '../lanes.js'

export const MAKEFILE_PATH = 'Makefile'

/** make expands `$`; the shell should see it. */
const forMake = (command: string) => command.replaceAll('$', '$$')

export function makefile(o: CiOptions): string {
  const c = laneCommands(o)
  const python = o.tests.language === 'python'
  const tool = o.pm.exec.split(' ')[0]!
  const need = (bin: string, how: string) =>
    `\t@command -v ${bin} >/dev/null 2>&1 || { echo "make: ${bin} was not found on PATH; ${how}" >&2; exit 1; }`
  return `${generatedHeader('#', 'Makefile: the same lanes as CI, on your machine.', o.services, o.tests)}
# make test-integration PG_VERSIONS=15,16,17 runs the integration tests once per major, side by side.

PG_VERSIONS ?= ${o.versions.join(',')}

.PHONY: check-prereqs test-unit test-integration test-all

check-prereqs:
${need('node', `install Node.js ${o.node} or newer (https://nodejs.org) and retry`)}
${need(tool, tool === 'npx' ? 'it ships with Node.js; reinstall Node.js and retry' : `enable it with corepack enable (Node.js ${o.node}+) and retry`)}
\t@node -e 'if (+process.versions.node.split(".")[0] < ${o.node}) { console.error("make: Node.js ${o.node} or newer is needed, found " + process.version); process.exit(1) }'${
    python
      ? `\n${need('python', 'activate the virtualenv of this project (python -m venv .venv && . .venv/bin/activate) and retry')}
\t@python -c 'import pytest' 2>/dev/null || { echo "make: pytest is not installed; run ${o.tests.pythonInstall!.slice(1).join(' && ')} first" >&2; exit 1; }`
      : ''
  }${o.tests.hasPackageJson || !python ? `\n\t@test -d node_modules || { echo "make: node_modules is missing; run ${o.pm.install} first" >&2; exit 1; }` : ''}

test-unit: check-prereqs
${o.unit ? `\t${forMake(c.unit)}` : `\t@echo "make: every test runs under pgrig here; make test-integration runs them"`}

test-integration: check-prereqs
\t${forMake(c.integrationLocal('PG_VERSIONS_')).replace('PG_VERSIONS_', '$(PG_VERSIONS)')}

test-all: check-prereqs
\t${c.comprehensive('$(PG_VERSIONS)', '$$')}
`
}
