import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import type { PgrigResults } from '../src/report/results.js'

const exec = promisify(execFile)
export const VITEST = path.resolve('node_modules/vitest/vitest.mjs')
export const CLI = path.resolve('dist/cli/main.js')
export const POLICY_FIXTURE = path.resolve('test/fixtures/report/policy')

export interface Finished {
  code: number
  stdout: string
  stderr: string
}

/** Runs a command to its end and returns its exit code and output, failing or not. */
export async function run(
  file: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv },
): Promise<Finished> {
  // No variable of the outer Vitest run may leak in and change how the inner one behaves.
  const env = Object.fromEntries(
    Object.entries({ ...process.env, ...options.env }).filter(
      ([key]) =>
        !key.startsWith('VITEST') &&
        key !== 'NODE_OPTIONS' &&
        key !== 'TEST' &&
        key !== 'GITHUB_STEP_SUMMARY',
    ),
  )
  Object.assign(env, { CI: 'true', NO_COLOR: '1', ...options.env })
  try {
    const { stdout, stderr } = await exec(file, args, { cwd: options.cwd, env, maxBuffer: 64 * 1024 * 1024 })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

/** `vitest run` in the fixture project, reports into a fresh folder. */
export async function vitestRun(
  env: NodeJS.ProcessEnv = {},
  args: string[] = [],
  cwd = POLICY_FIXTURE,
): Promise<Finished & { dir: string; results: () => PgrigResults; file: (name: string) => string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-report-'))
  const finished = await run(process.execPath, [VITEST, 'run', ...args], {
    cwd,
    env: { PGRIG_REPORT_DIR: dir, ...env },
  })
  return {
    ...finished,
    dir,
    results: () => JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')) as PgrigResults,
    file: (name) => fs.readFileSync(path.join(dir, name), 'utf8'),
  }
}

export function statusOf(results: PgrigResults, name: string, run = 0): string | undefined {
  return results.runs[run]?.tests.find((t) => t.name === name)?.status
}
