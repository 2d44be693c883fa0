import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'

const SIGNALS = ['SIGINT', 'SIGTERM'] as const

/** The compiled drop script; from sources (tests), the build output next to them. */
function dropScript(): string {
  const beside = fileURLToPath(new URL('./drop-run-main.js', import.meta.url))
  if (fs.existsSync(beside)) return beside
  return fileURLToPath(new URL('../../dist/databases/drop-run-main.js', import.meta.url))
}

/**
 * On Ctrl-C or SIGTERM, drops the run's clones on a server that outlives this process (an external
 * one, `pgrig up`'s) before the process exits. Runners exit within a millisecond of the signal
 * (Vitest: `setTimeout(process.exit, 1)`), too soon for a drop over the network, so the drop runs
 * in a child this process waits for (a few hundred ms, only when interrupted). With nobody else
 * listening, the process then dies of the signal as it would have. Returns the guard's removal.
 */
export function dropOnSignal(adminUrl: string, runId: string): () => void {
  const remove = () => {
    for (const sig of SIGNALS) process.off(sig, onSignal)
  }
  function onSignal(sig: NodeJS.Signals): void {
    remove()
    spawnSync(process.execPath, [dropScript()], {
      input: JSON.stringify({ adminUrl, runId }),
      stdio: ['pipe', 'ignore', 'ignore'],
      timeout: 10_000,
    })
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig)
  }
  for (const sig of SIGNALS) process.on(sig, onSignal)
  return remove
}
