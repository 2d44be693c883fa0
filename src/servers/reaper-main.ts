/**
 * The reaper: a small process per run that holds the read end of a pipe from the run's owner.
 * When the owner dies, however it dies (SIGKILL included), the pipe closes and the reaper stops the
 * run's servers and removes its folders.
 */
// What tears the run down is imported only when the owner dies: loading it at start cost every run
// ~100 ms of CPU per reaper (170 ms against 65 ms for a bare node process, measured here), and most
// reapers never do more than wait.

const runId = process.argv[2]
if (!runId) process.exit(2)
// A terminal's Ctrl-C or hangup must not kill the reaper before it has done its job.
for (const sig of ['SIGINT', 'SIGHUP', 'SIGTERM'] as const) process.on(sig, () => {})
process.stdin.resume()
process.stdin.on('data', () => {})
process.stdin.on('close', () => {
  void reap(runId).finally(() => process.exit(0))
})

async function reap(runId: string): Promise<void> {
  const { readState } = await import('./run-dir.js')
  // A detached run (`pgrig up`) outlives its owner once every start has finished; one the owner
  // left in the middle of a start (Ctrl-C, SIGKILL) is taken down like any other.
  const state = readState(runId)
  if (state?.detached && !state.starting) {
    // What must not outlive the owner even so: the command of `pgrig run --keep`.
    const { stopCompanions } = await import('./companions.js')
    const withOwner = (record: { withOwner?: boolean }) => record.withOwner === true
    await stopCompanions(runId, withOwner)
    // An owner killed while spawning it: the command may have appeared meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 50))
    await stopCompanions(runId, withOwner)
    return
  }
  const { teardownRun } = await import('./teardown.js')
  await teardownRun(runId)
}
