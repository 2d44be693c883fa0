import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { waitUntil } from '../src/servers/process-alive.js'
import { fixtureProject, repoRoot } from './support/fixture-project.js'

// A full file system under Vitest (issue 21, item 5): the template copy ran out of space and Vitest
// printed 871 lines ('Command failed: cp -a', ~950 'cp: error writing' lines, a stack). It is one
// line saying what, why and what to do, and the run fails.
const vitestBin = path.join(repoRoot, 'node_modules', 'vitest', 'vitest.mjs')
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-full-vitest-'))
fs.chmodSync(scratch, 0o755)
const full = path.join(scratch, 'full')
fs.mkdirSync(full, { mode: 0o755 })
let mounted = false
try {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=20m,mode=755', 'tmpfs', full], { stdio: 'ignore' })
  mounted = true
} catch {
  // no mount privilege (not root, a container): skipped below
}
const dir = fixtureProject('vitest-project')

afterAll(() => {
  if (mounted) execFileSync('umount', ['-l', full])
  fs.rmSync(scratch, { recursive: true, force: true })
  fs.rmSync(dir, { recursive: true, force: true })
})

test.skipIf(!mounted)(
  'a full file system during the template copy ends a Vitest run in one line, no cp output, no stack',
  { timeout: 120_000 },
  async () => {
    const child = spawn(process.execPath, [vitestBin, 'run'], {
      cwd: dir,
      env: {
        ...process.env,
        PGRIG_RUN_ROOT: full,
        PGRIG_TMPFS_DIR: '/nonexistent',
        NO_COLOR: '1',
        CI: 'true',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (d: Buffer) => (output += d.toString()))
    child.stderr.on('data', (d: Buffer) => (output += d.toString()))
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
    expect(code, output).not.toBe(0)
    expect(output).toMatch(/(copying the data dir template|writing the run's state).* ran out of space/)
    expect(output).toMatch(/free space there/)
    expect(output).not.toMatch(/cp: error writing|Command failed|^\s+at /m)
    expect(output.split('\n').filter((line) => line.trim()).length, output).toBeLessThan(25)
    expect(output).toMatch(/E_DISK_FULL/)
    // nothing of the run is left on the full file system once its reaper has seen Vitest go
    const left = () => fs.readdirSync(full).flatMap((d) => fs.readdirSync(path.join(full, d)))
    expect(await waitUntil(() => left().length === 0, 15_000), left().join(', ')).toBe(true)
  },
)
