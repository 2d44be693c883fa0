import fs from 'node:fs'
import path from 'node:path'
import { makeDir } from '../servers/make-dir.js'
import type { ServiceOptions } from '../config/schema.js'
import { resolveServices } from '../config/services.js'
import { PgrigError } from '../errors.js'
import { fillPlaceholders } from '../services/service.js'
import type { CiOptions, CiService } from './lanes.js'
import {
  declaresPackageManager,
  detectPackageManager,
  packageManagerCommands,
  PACKAGE_MANAGERS,
  type PackageManager,
} from './package-manager.js'
import { ENV_EXAMPLE_PATH, envExample } from './templates/env-example.js'
import { GITHUB_WORKFLOW_PATH, githubWorkflow } from './templates/github.js'
import { GITLAB_CI_PATH, gitlabCi } from './templates/gitlab.js'
import { JENKINSFILE_PATH, jenkinsfile } from './templates/jenkins.js'
import { MAKEFILE_PATH, makefile } from './templates/makefile.js'
import { parseVersionList } from '../run/version-list.js'
import { detectTests, planWarning, type TestPlan } from './detect.js'

export const CI_TARGETS = ['github', 'gitlab', 'jenkins', 'make', 'env'] as const
export type CiTarget = (typeof CI_TARGETS)[number]

const TEMPLATES: Record<CiTarget, { file: string; render: (o: CiOptions) => string }> = {
  github: { file: GITHUB_WORKFLOW_PATH, render: githubWorkflow },
  gitlab: { file: GITLAB_CI_PATH, render: gitlabCi },
  jenkins: { file: JENKINSFILE_PATH, render: jenkinsfile },
  make: { file: MAKEFILE_PATH, render: makefile },
  env: { file: ENV_EXAMPLE_PATH, render: (o) => envExample(o.services) },
}

export interface InitCiOptions {
  /** The repository the files are for (default: the current directory). */
  dir?: string
  /** PostgreSQL majors, e.g. '15,16,17' or ['15', '16']. */
  pg?: string | string[]
  shards?: number
  /** Default: from package.json's packageManager field or the lockfile in `dir`. */
  packageManager?: PackageManager
  node?: string
  only?: CiTarget[]
  /** The config's services (their variables go into .env.test.example, their programs into the CI notes). */
  services?: Record<string, ServiceOptions>
  /** The command that runs the tests (default: found from package.json, the runner's config, or pytest). */
  testCommand?: string
  /** The integration test files (default: `**\/*.integration.test.*` when the project has some, else every test). */
  integrationGlob?: string
}

export interface CiFile {
  /** Relative to the repository. */
  path: string
  content: string
}

export const DEFAULT_VERSIONS = ['15', '16', '17']
export const DEFAULT_NODE = '20'
export const DEFAULT_PNPM_VERSION = '10'

function usage(message: string): PgrigError {
  return new PgrigError('E_USAGE', message)
}

/** Checks the options and renders every requested file, without touching the disk. */
export function planCiFiles(options: InitCiOptions = {}): CiFile[] {
  return planCi(options).files
}

/** The files, the test plan they were written for, and the warning when its globs match no test file. */
export function planCi(options: InitCiOptions = {}): { files: CiFile[]; tests: TestPlan; warning?: string } {
  const dir = path.resolve(options.dir ?? '.')

  const versions =
    options.pg === undefined
      ? DEFAULT_VERSIONS
      : Array.isArray(options.pg)
        ? options.pg
        : parseVersionList(options.pg)
  if (versions.some((v) => !/^\d+$/.test(v))) {
    throw usage(`--pg ${versions.join(',')} must list PostgreSQL majors (e.g. 15,16,17), not minor versions`)
  }
  if (options.testCommand !== undefined && !options.testCommand.trim()) {
    throw usage(
      '--test-command is empty; pass the command that runs your tests, e.g. --test-command "npm test"',
    )
  }
  if (options.integrationGlob !== undefined && !options.integrationGlob.trim()) {
    throw usage(
      '--integration-glob is empty; pass the glob of your integration test files, e.g. "test/db/**"',
    )
  }
  const tests = detectTests(dir, {
    ...(options.testCommand ? { testCommand: options.testCommand } : {}),
    ...(options.integrationGlob ? { integrationGlob: options.integrationGlob } : {}),
  })
  // pytest has no shards of its own: one job per version.
  const shards = tests.language === 'python' ? 1 : (options.shards ?? 2)
  if (!Number.isInteger(shards) || shards < 1 || shards > 64) {
    throw usage(`--shards ${options.shards} is not a whole number from 1 to 64`)
  }
  const node = options.node ?? DEFAULT_NODE
  if (!/^\d+$/.test(node) || Number(node) < 20) {
    throw usage(`--node ${node} is not a Node.js major pgrig runs on; use 20 or newer, e.g. --node 22`)
  }
  const pmName = options.packageManager ?? detectPackageManager(dir)
  if (!PACKAGE_MANAGERS.includes(pmName)) {
    throw usage(`--package-manager ${pmName} is not one of ${PACKAGE_MANAGERS.join(', ')}`)
  }
  const ci: CiOptions = {
    versions,
    shards,
    node,
    pm: packageManagerCommands(pmName),
    ...(pmName === 'pnpm' && !declaresPackageManager(dir) ? { pnpmVersion: DEFAULT_PNPM_VERSION } : {}),
    ...(options.services ? { services: exampleServices(options.services, dir) } : {}),
    tests,
    unit:
      tests.language === 'js' &&
      (tests.runner === 'vitest' || tests.runner === 'jest') &&
      tests.integrationGlob !== undefined &&
      (!tests.detected || tests.testFiles > tests.integrationFiles),
  }
  const targets = options.only ?? CI_TARGETS
  const files = targets.map((target) => ({
    path: TEMPLATES[target].file,
    content: TEMPLATES[target].render(ci),
  }))
  const warning = planWarning(tests, dir)
  return { files, tests, ...(warning ? { warning } : {}) }
}

/** The services with example values for `{port}` (54400, 54401, …) and `{dir}`, as a run would fill them. */
function exampleServices(services: Record<string, ServiceOptions>, dir: string): CiService[] {
  return resolveServices(services, dir).map((spec, i) => {
    const fill = (text: string) =>
      fillPlaceholders(text, 54400 + i, `/tmp/pgrig-0/<run-id>/services/${spec.name}/data`)
    return {
      name: spec.name,
      command: spec.command.map((arg) => (/[\s'"]/.test(arg) ? JSON.stringify(arg) : arg)).join(' '),
      env: Object.fromEntries(Object.entries(spec.env).map(([key, value]) => [key, fill(value)])),
    }
  })
}

/** `github,make` → ['github', 'make'], or one line naming what is not a target. */
export function parseTargets(raw: string): CiTarget[] {
  const targets = raw
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)
  const bad = targets.find((t) => !(CI_TARGETS as readonly string[]).includes(t))
  if (bad !== undefined || targets.length === 0) {
    throw usage(
      `--only ${raw}: ${bad ?? 'nothing'} is not a CI file pgrig writes; choose from ${CI_TARGETS.join(',')}`,
    )
  }
  return [...new Set(targets)] as CiTarget[]
}

/**
 * Writes the files under `dir`; refuses, before writing any, when one exists and `force` is not set,
 * so a second run never half-overwrites a repository.
 */
export function writeCiFiles(files: CiFile[], options: { dir?: string; force?: boolean } = {}): string[] {
  // The repository must exist: a typo in --dir must not grow a new folder tree.
  const dir = makeDir(options.dir ?? '.', {
    what: 'init ci --dir',
    code: 'E_USAGE',
    hint: 'pass the folder of an existing repository',
    mustExist: true,
  })
  if (!options.force) {
    const existing = files.find((f) => fs.existsSync(path.join(dir, f.path)))
    if (existing) {
      throw new PgrigError(
        'E_FILE_EXISTS',
        `${path.join(dir, existing.path)} already exists; pass --force to overwrite it, or leave it out with --only`,
      )
    }
  }
  return files.map((f) => {
    const target = path.join(dir, f.path)
    fs.mkdirSync(path.dirname(target), { recursive: true })
    fs.writeFileSync(target, f.content)
    return target
  })
}
