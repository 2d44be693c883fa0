import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

/**
 * Gives this test file a run root of its own, so `pgrig down --all` in another test file running
 * at the same time cannot stop the servers this file started. Call at module top level.
 */
export function privateRunRoot(label: string): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `pgrig-rr-${label}-`))
  // The unprivileged server user must traverse it.
  fs.chmodSync(root, 0o755)
  process.env.PGRIG_RUN_ROOT = root
  process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }))
  return root
}
