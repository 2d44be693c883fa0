import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { onTestFinished } from 'vitest'

/** A project folder holding this pgrig.config.json, removed when the test ends. */
export function configProject(config: unknown, label = 'project'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pgrig-${label}-`))
  fs.chmodSync(dir, 0o755)
  fs.writeFileSync(path.join(dir, 'pgrig.config.json'), JSON.stringify(config, null, 2))
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}
