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
 * While the owner lives, the reaper is a shell blocked on the pipe (about 1 ms of CPU to start,
 * against 65–100 ms for a Node process, which a first start paid on its critical path, on the same
 * two cores as the server it starts); when the pipe closes, the shell becomes the Node reaper
 * (`exec`, same pid), which finds its stdin at its end and tears the run down. Signals ignored
 * here stay ignored across the exec, so a terminal's Ctrl-C never reaches it in between.
 */
const WAIT_THEN_REAP = 'trap "" INT HUP TERM; while read -r _; do :; done; exec "$0" "$@"'

/**
 * Starts the reaper for a run. The owner keeps the write end of the reaper's stdin open for as long
 * as it lives; it is unref'd so it never keeps the owner's event loop alive.
 */
export function spawnReaper(runId: string): void {
  const node = [process.execPath, reaperScript(), runId]
  const [command, args] =
    process.platform === 'win32' ? [node[0]!, node.slice(1)] : ['/bin/sh', ['-c', WAIT_THEN_REAP, ...node]]
  const child = spawn(command, args, {
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
