import { spawn } from 'node:child_process'
import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import { untaggedEnv } from './process-tree.js'

/** The compiled reaper script; from sources (tests), the build output next to them. */
function reaperScript(): string {
  const beside = fileURLToPath(new URL('./reaper-main.js', import.meta.url))
  if (fs.existsSync(beside)) return beside
  return fileURLToPath(new URL('../../dist/servers/reaper-main.js', import.meta.url))
}

/**
 * Starts the reaper for a run. The owner keeps the write end of the reaper's stdin open for as long
 * as it lives; it is unref'd so it never keeps the owner's event loop alive.
 */
export function spawnReaper(runId: string): void {
  const child = spawn(process.execPath, [reaperScript(), runId], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
    // Started from a command pgrig runs, it must outlive that command's tree to clean up after it.
    env: untaggedEnv(),
  })
  child.unref()
  const pipe = child.stdin as unknown as { unref?: () => void; on: (e: string, f: () => void) => void }
  pipe.on('error', () => {})
  pipe.unref?.()
}
