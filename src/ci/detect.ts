import fs from 'node:fs'
import path from 'node:path'
import { globSync } from 'tinyglobby'
import { INTEGRATION_FILTER } from './lanes.js'

/** The test runners `pgrig init ci` writes lanes for; `custom` is `--test-command` as given. */
export type TestRunner = 'vitest' | 'jest' | 'node' | 'pytest' | 'custom'

/** What `pgrig init ci` found out about a project's tests (or was told with the flags). */
export interface TestPlan {
  language: 'js' | 'python'
  runner: TestRunner
  /** `--test-command`: run as given under `pgrig run`, once per version and shard. */
  command?: string
  /** The globs of every test file, as the runner's config (or its defaults) has them. */
  testGlobs: string[]
  /**
   * The integration tests: `--integration-glob`, else the files named `*.integration.test.*` when the
   * project has some; undefined when every test file runs under pgrig (no separate unit lane).
   */
  integrationGlob?: string
  testFiles: number
  integrationFiles: number
  /** node:test: the file arguments of the project's `node --test` script, as written. */
  nodeArgs?: string
  /** Python: the install commands (pip), in order. */
  pythonInstall?: string[]
  /** Whether a package.json or a Python manifest was found (else: defaults, nothing counted). */
  detected: boolean
  /** Whether the repository has a package.json (else pgrig comes from `npx --yes`). */
  hasPackageJson: boolean
}

export interface DetectOptions {
  testCommand?: string
  integrationGlob?: string
}

const IGNORE = ['**/node_modules/**', '**/.git/**', '**/dist/**', '**/build/**', '**/.venv/**', '**/venv/**']

const VITEST_DEFAULT = ['**/*.{test,spec}.?(c|m)[jt]s?(x)']
const JEST_DEFAULT = ['**/__tests__/**/*.?([mc])[jt]s?(x)', '**/?(*.)+(spec|test).?([mc])[jt]s?(x)']
const NODE_DEFAULT = [
  '**/*.test.?(c|m)js',
  '**/*-test.?(c|m)js',
  '**/*_test.?(c|m)js',
  '**/test-*.?(c|m)js',
  '**/test.?(c|m)js',
  '**/test/**/*.?(c|m)js',
]
const PYTEST_DEFAULT = ['test_*.py', '*_test.py']

function read(dir: string, file: string): string | undefined {
  try {
    return fs.readFileSync(path.join(dir, file), 'utf8')
  } catch {
    return undefined
  }
}

/** The string literals of `key: [ ... ]` in a config file's source (a JS/TS config is not run). */
function arrayLiteral(source: string | undefined, key: string): string[] | undefined {
  const list = source?.match(new RegExp(`\\b${key}\\s*:\\s*\\[([^\\]]*)\\]`))?.[1]
  if (list === undefined) return undefined
  const items = [...list.matchAll(/(['"`])((?:(?!\1).)*)\1/g)].map((m) => m[2]!)
  return items.length ? items : undefined
}

function firstFile(dir: string, names: string[]): string | undefined {
  for (const name of names) {
    const source = read(dir, name)
    if (source !== undefined) return source
  }
  return undefined
}

const CONFIG_EXTS = ['ts', 'mts', 'cts', 'js', 'mjs', 'cjs']

function vitestGlobs(dir: string): string[] {
  const config = firstFile(dir, [
    ...CONFIG_EXTS.map((e) => `vitest.config.${e}`),
    ...CONFIG_EXTS.map((e) => `vite.config.${e}`),
  ])
  return arrayLiteral(config, 'include') ?? VITEST_DEFAULT
}

function jestGlobs(dir: string, manifest: Manifest): string[] {
  const inManifest = manifest.jest?.testMatch
  if (Array.isArray(inManifest) && inManifest.length) return inManifest.map(String)
  const config = firstFile(dir, [...CONFIG_EXTS.map((e) => `jest.config.${e}`), 'jest.config.json'])
  return arrayLiteral(config, 'testMatch') ?? JEST_DEFAULT
}

/** `node --test a b` → its file arguments, as written. */
function nodeArgsOf(script: string): string[] {
  const after = script.slice(script.indexOf('--test') + '--test'.length).split(/&&|\|\||;/)[0]!
  return after
    .trim()
    .split(/\s+/)
    .filter((a) => a && !a.startsWith('-'))
}

/** `node --test a b` → the files it runs (globs from Node 21, folders searched); none → Node's default patterns. */
function nodeGlobs(script: string): string[] {
  const args = nodeArgsOf(script).map((a) => a.replace(/^['"]|['"]$/g, ''))
  return args.length
    ? args.map((a) => (/[*?{[]/.test(a) || path.extname(a) ? a : `${a.replace(/\/$/, '')}/**/*.?(c|m)js`))
    : NODE_DEFAULT
}

/** pytest's testpaths and python_files from pytest.ini, pyproject.toml, tox.ini or setup.cfg. */
function pytestGlobs(dir: string): string[] {
  const sources = ['pytest.ini', 'pyproject.toml', 'tox.ini', 'setup.cfg'].map((f) => read(dir, f) ?? '')
  const value = (key: string) => {
    for (const source of sources) {
      const line = source.match(new RegExp(`^\\s*${key}\\s*=\\s*(.+)$`, 'm'))?.[1]
      if (line) return [...line.matchAll(/[^\s,[\]'"]+/g)].map((m) => m[0])
    }
    return undefined
  }
  const roots = value('testpaths') ?? ['.']
  const files = value('python_files') ?? PYTEST_DEFAULT
  return roots.flatMap((root) => files.map((f) => path.posix.join(root, '**', f)))
}

interface Manifest {
  scripts?: Record<string, string>
  dependencies?: Record<string, string>
  devDependencies?: Record<string, string>
  jest?: { testMatch?: unknown }
}

function manifestOf(dir: string): Manifest | undefined {
  const source = read(dir, 'package.json')
  if (source === undefined) return undefined
  try {
    return JSON.parse(source) as Manifest
  } catch {
    return undefined
  }
}

function isPython(dir: string): boolean {
  return (
    ['pyproject.toml', 'pytest.ini', 'setup.cfg', 'setup.py', 'tox.ini'].some((f) =>
      fs.existsSync(path.join(dir, f)),
    ) || fs.readdirSync(dir).some((f) => /^requirements.*\.txt$/.test(f))
  )
}

/** pip install lines: the requirements files, the project itself when it is a package, pytest if nothing brings it. */
function pythonInstall(dir: string): string[] {
  const requirements = fs
    .readdirSync(dir)
    .filter((f) => /^requirements.*\.txt$/.test(f))
    .sort()
  const pyproject = read(dir, 'pyproject.toml') ?? ''
  const isPackage = /^\[project\]/m.test(pyproject) || fs.existsSync(path.join(dir, 'setup.py'))
  const lines = ['python -m pip install --upgrade pip']
  if (requirements.length) lines.push(`python -m pip install ${requirements.map((r) => `-r ${r}`).join(' ')}`)
  if (isPackage) lines.push('python -m pip install -e .')
  const mentions = [pyproject, ...requirements.map((r) => read(dir, r) ?? '')].some((s) =>
    /\bpytest\b/.test(s),
  )
  if (!mentions) lines.push('python -m pip install pytest')
  return lines
}

function count(dir: string, globs: string[], only?: string): { all: number; integration: number } {
  const files = globSync(globs, { cwd: dir, ignore: IGNORE, dot: false })
  const integration = only ? globSync([only], { cwd: dir, ignore: IGNORE }) : []
  const set = new Set(files)
  return { all: files.length, integration: integration.filter((f) => set.has(f)).length }
}

const DEFAULT_INTEGRATION_GLOB = `**/*${INTEGRATION_FILTER}*`

/**
 * The project's runner, its test files and which of them are integration tests. A folder without a
 * package.json or a Python manifest gets Vitest with `*.integration.test.*`, as before detection.
 */
export function detectTests(dir: string, options: DetectOptions = {}): TestPlan {
  const manifest = manifestOf(dir)
  const script = manifest?.scripts?.test ?? ''
  const deps = { ...manifest?.dependencies, ...manifest?.devDependencies }
  const jsRunner: TestRunner | undefined = /\bvitest\b/.test(script)
    ? 'vitest'
    : /\bjest\b/.test(script)
      ? 'jest'
      : /\bnode\b.*--test\b/.test(script)
        ? 'node'
        : 'vitest' in deps
          ? 'vitest'
          : 'jest' in deps
            ? 'jest'
            : undefined
  const python = !jsRunner && fs.existsSync(dir) && isPython(dir)
  const runner: TestRunner = options.testCommand ? 'custom' : python ? 'pytest' : (jsRunner ?? 'vitest')
  const testGlobs =
    runner === 'pytest' || (runner === 'custom' && python)
      ? pytestGlobs(dir)
      : runner === 'jest'
        ? jestGlobs(dir, manifest ?? {})
        : runner === 'node'
          ? nodeGlobs(script)
          : vitestGlobs(dir)
  const known = manifest !== undefined || python
  const found = known ? count(dir, testGlobs, options.integrationGlob ?? DEFAULT_INTEGRATION_GLOB) : undefined
  // Only Vitest and Jest can run "all but these files"; the others run every test under pgrig.
  const splits = runner === 'vitest' || runner === 'jest'
  const integrationGlob =
    options.integrationGlob ??
    (!found || (splits && found.integration > 0) ? DEFAULT_INTEGRATION_GLOB : undefined)
  return {
    language: python ? 'python' : 'js',
    runner,
    ...(options.testCommand ? { command: options.testCommand } : {}),
    testGlobs,
    ...(splits || options.integrationGlob ? (integrationGlob ? { integrationGlob } : {}) : {}),
    testFiles: found?.all ?? 0,
    integrationFiles: integrationGlob ? (found?.integration ?? 0) : (found?.all ?? 0),
    ...(runner === 'node' && nodeArgsOf(script).length ? { nodeArgs: nodeArgsOf(script).join(' ') } : {}),
    ...(python ? { pythonInstall: pythonInstall(dir) } : {}),
    detected: known,
    hasPackageJson: manifest !== undefined,
  }
}

/** The one-line warning when the plan's globs match no file (the generated jobs would fail), else undefined. */
export function planWarning(plan: TestPlan, dir: string): string | undefined {
  if (plan.runner === 'custom') return undefined
  if (!plan.detected)
    return `no package.json or Python project (pyproject.toml, requirements*.txt, pytest.ini, setup.cfg) in ${dir}; the files run Vitest on ${plan.integrationGlob} (integration tests), pass --test-command to run something else`
  const where = plan.integrationGlob
    ? `${plan.integrationGlob} (integration tests)`
    : plan.testGlobs.join(', ')
  const n = plan.integrationGlob ? plan.integrationFiles : plan.testFiles
  if (n > 0) return undefined
  return (
    `no test file in ${dir} matches ${where}, so the generated test jobs will fail (they never pass on zero tests);` +
    ` name the integration tests with --integration-glob, or the command that runs them with --test-command`
  )
}
