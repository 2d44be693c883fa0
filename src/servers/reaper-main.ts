/**
 * The reaper: a small process per run that holds the read end of a pipe from the run's owner.
 * When the owner dies, however it dies (SIGKILL included), the pipe closes and the reaper stops the
 * run's servers and removes its folders.
 */
import { readState } from './run-dir.js'
import { teardownRun } from './teardown.js'

const runId = process.argv[2]
if (!runId) process.exit(2)
// A terminal's Ctrl-C or hangup must not kill the reaper before it has done its job.
for (const sig of ['SIGINT', 'SIGHUP', 'SIGTERM'] as const) process.on(sig, () => {})
process.stdin.resume()
process.stdin.on('data', () => {})
process.stdin.on('close', () => {
  // A detached run (`pgrig up`) outlives its owner once every start has finished; one the owner
  // left in the middle of a start (Ctrl-C, SIGKILL) is taken down like any other.
  const state = readState(runId)
  if (state?.detached && !state.starting) process.exit(0)
  teardownRun(runId).finally(() => process.exit(0))
})
