import type { TestProject } from 'vitest/node'
import { concurrentTestsRefused } from '../lifecycle/runner-info.js'
import { startRun } from '../lifecycle/start-run.js'
import { registry } from './plugin.js'
import { printablePgClients } from './printable-pg.js'
import './provided.js'

/** Runs once in Vitest's main process; the pool outlives every worker and every watch rerun. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (project.config.sequence.concurrent) {
    throw concurrentTestsRefused(
      "Vitest's sequence.concurrent runs a file's tests side by side in one process",
      'turn sequence.concurrent off (Vitest still runs files in parallel)',
      'E_CONFIG_INVALID',
    )
  }
  const options = registry().byProject.get(project) ?? registry().last ?? {}
  const run = await startRun(options, {
    cwd: project.config.root,
    keepFailedDefault: project.vitest.config.watch,
  })
  // Errors printed in this process (a pool session's, the code in vitest.config's) too.
  printablePgClients()
  project.provide('pgrig', run.provided)
  return () => run.close()
}
