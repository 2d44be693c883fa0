import fs from 'node:fs'
import { PgrigError } from '../errors.js'
import { collectEnvironment, pgVersionOf } from './environment.js'
import { checkResults } from './merge.js'
import { createRedactor, redactDeep } from './redact.js'
import { RESULTS_SCHEMA, type PgrigResults, type RunRecord } from './results.js'

/** A run as another runner (pytest-pgrig) writes it: pgrig fills in what only it knows. */
type RunnerRun = Omit<RunRecord, 'environment' | 'label' | 'pgVersion'> & {
  label?: string | null
  pgVersion?: string | null
  environment?: { runner?: string | null } | null
}

/**
 * Completes the results another test runner wrote (`pgrig report write`): each run gets the
 * environment (pgrig, Node, OS, the servers in `env` with their versions and settings), its
 * version label as pgrig's Vitest reporter gives it, and every string has its passwords hidden.
 */
export async function completeRunnerResults(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<PgrigResults> {
  let raw: { schema?: unknown; runs?: RunnerRun[] }
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof raw
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (error as Error).message
    throw new PgrigError(
      'E_REPORT_INVALID',
      `cannot read ${file}: ${reason}; pass the results file the runner's pgrig plugin wrote`,
    )
  }
  if (raw?.schema === RESULTS_SCHEMA && Array.isArray(raw.runs)) {
    const environment = await collectEnvironment(env, null)
    raw.runs = raw.runs.map((run) => {
      const complete = { ...environment, runner: run.environment?.runner ?? null }
      const pgVersion = run.pgVersion ?? pgVersionOf(complete, env)
      return {
        ...run,
        label: run.label ?? (pgVersion ? `pg${pgVersion}` : 'default'),
        pgVersion,
        environment: complete,
      }
    })
  }
  return redactDeep(checkResults(raw, file), createRedactor())
}

/** Hides passwords in a text file (a runner's own JUnit XML) in place; a missing file is left alone. */
export function redactFileInPlace(file: string): void {
  if (!fs.existsSync(file)) return
  const text = fs.readFileSync(file, 'utf8')
  const hidden = createRedactor()(text)
  if (hidden !== text) fs.writeFileSync(file, hidden)
}
