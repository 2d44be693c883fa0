import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll } from 'vitest'

/**
 * Gives this test file a run root of its own, so `pgrig down --all` in another test file running
 * at the same time cannot stop the servers this file started. Call at module top level.
 */
export function privateRunRoot(label: string): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `pgrig-rr-${label}-`))
  // The unprivileged server user must traverse it.
  fs.chmodSync(root, 0o755)
  process.env.PGRIG_RUN_ROOT = root
  // Registered first, so it runs after the file's own afterAll hooks (which may still stop servers here).
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }))
  return root
}
