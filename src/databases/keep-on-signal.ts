const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const

/**
 * A runner's main process ended by a signal before its teardown (Vitest in watch mode on Ctrl-C or
 * SIGTERM exits without running it) would have its reaper stop the server of a database it kept and
 * printed the URL of. On the signal, `keep` (synchronous: the run is marked detached) runs when
 * `shouldKeep()`, then the signal takes its course: another listener's (the runner's own), or the
 * default exit, raised again once this one is gone. Returns the undo, for an orderly close.
 */
export function keepOnSignal(shouldKeep: () => boolean, keep: () => void): () => void {
  const remove = () => {
    for (const signal of SIGNALS) process.off(signal, onSignal)
  }
  function onSignal(signal: NodeJS.Signals): void {
    remove()
    if (shouldKeep()) keep()
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal)
  }
  for (const signal of SIGNALS) process.on(signal, onSignal)
  return remove
}
