import { execFile, execFileSync, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, onTestFinished, test } from 'vitest'
import { postmastersUnder } from '../src/servers/process-alive.js'

// Another local user pre-creating pgrig's per-user folders in world-writable places must be
// refused in one line, and must not be able to hide, rename or read a victim's run.
const isRoot = process.getuid?.() === 0
const exec = promisify(execFile)
const CLI = path.resolve('dist/cli/main.js')
const uid = process.getuid?.() ?? 0

async function pgrig(args: string[], env: NodeJS.ProcessEnv) {
  try {
    const { stdout, stderr } = await exec(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
    })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

/** A world-writable sticky folder like /tmp, of this test's own. */
function sharedTmp(label: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pgrig-2u-${label}-`))
  fs.chmodSync(dir, 0o1777)
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

let other: { name: string; uid: number; gid: number }
/** Runs a command as the other user; returns its exit status. */
const asOther = (command: string, args: string[]) =>
  spawnSync(command, args, { uid: other.uid, gid: other.gid, stdio: 'ignore' }).status

function expectRefusal(out: { code: number; stderr: string }, folder: string, what: RegExp) {
  expect(out.code).not.toBe(0)
  const lines = out.stderr.trim().split('\n')
  expect(lines, out.stderr).toHaveLength(1)
  expect(lines[0]).toMatch(/^pgrig: refusing /)
  expect(lines[0]).toContain(folder)
  expect(lines[0]).toMatch(what)
  expect(out.stderr).not.toMatch(/\n\s+at /)
}

describe.skipIf(!isRoot)('two users on one machine (needs root to create the second user)', () => {
  beforeAll(() => {
    const name = `pgrig2u${randomBytes(3).toString('hex')}`
    execFileSync('useradd', ['--no-create-home', '--shell', '/usr/sbin/nologin', name])
    const [, , u, g] = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).split(':')
    other = { name, uid: Number(u), gid: Number(g) }
  })
  afterAll(() => {
    if (other) execFileSync('userdel', [other.name])
  })

  test('a run root the other user made first (writable by all, or merely theirs) is refused, never chmod-ed', async () => {
    const base = sharedTmp('root')
    const root = path.join(base, `pgrig-${uid}`)
    expect(asOther('mkdir', ['-m', '777', root])).toBe(0)
    const up = await pgrig(['up'], { PGRIG_RUN_ROOT: base })
    expectRefusal(up, root, new RegExp(`owned by ${other.name} \\(uid ${other.uid}\\) with mode 0777`))
    expectRefusal(await pgrig(['status'], { PGRIG_RUN_ROOT: base }), root, /owned by/)
    expect(fs.statSync(root).mode & 0o777).toBe(0o777)
    expect(fs.readdirSync(root)).toEqual([])
    expect(postmastersUnder([base])).toEqual([])

    fs.rmdirSync(root)
    expect(asOther('mkdir', ['-m', '755', root])).toBe(0)
    expectRefusal(await pgrig(['up'], { PGRIG_RUN_ROOT: base }), root, /not by you/)
  })

  test('a link planted where the run root or the tmpfs root goes is refused, never followed', async () => {
    const base = sharedTmp('link')
    const theirs = path.join(base, 'theirs')
    expect(asOther('mkdir', ['-m', '755', theirs])).toBe(0)
    const root = path.join(base, `pgrig-${uid}`)
    expect(asOther('ln', ['-s', theirs, root])).toBe(0)
    expectRefusal(await pgrig(['up'], { PGRIG_RUN_ROOT: base }), root, /symbolic link/)
    expect(fs.readdirSync(theirs)).toEqual([])

    const tmpfs = sharedTmp('shm')
    const ownRoot = sharedTmp('ok')
    const shmRoot = path.join(tmpfs, `pgrig-${uid}`)
    expect(asOther('mkdir', ['-m', '777', shmRoot])).toBe(0)
    const up = await pgrig(['up'], { PGRIG_RUN_ROOT: ownRoot, PGRIG_TMPFS_DIR: tmpfs })
    expectRefusal(up, shmRoot, /owned by .* with mode 0777/)
    expect(fs.readdirSync(shmRoot)).toEqual([])
    expect(postmastersUnder([ownRoot, tmpfs])).toEqual([])
  })

  test("the victim's own run cannot be renamed, hidden or read by the other user; status shows it, down stops it", async () => {
    const base = sharedTmp('victim')
    const tmpfs = sharedTmp('vshm')
    const env = { PGRIG_RUN_ROOT: base, PGRIG_TMPFS_DIR: tmpfs }
    const up = await pgrig(['up', '--json', '--name', 'victim'], env)
    expect(up.code, up.stderr).toBe(0)
    const { runId, servers } = JSON.parse(up.stdout) as { runId: string; servers: { logFile: string }[] }
    const root = path.join(base, `pgrig-${uid}`)
    const runDir = path.join(root, runId)
    try {
      for (const file of [servers[0]!.logFile, path.join(runDir, 'state.json')]) {
        expect((fs.statSync(file).mode & 0o777).toString(8), file).toBe('600')
        expect(asOther('cat', [file]), `${other.name} reads ${file}`).not.toBe(0)
      }
      expect(asOther('mv', [runDir, path.join(root, 'hidden')])).not.toBe(0)
      expect(asOther('mv', [root, path.join(base, 'moved')])).not.toBe(0)
      expect(asOther('mkdir', [path.join(root, 'planted')])).not.toBe(0)
      const status = await pgrig(['status'], env)
      expect(status.stdout).toMatch(/^victim\s+running/m)
    } finally {
      const down = await pgrig(['down', '--all'], env)
      expect(down.code, down.stderr).toBe(0)
    }
    expect(postmastersUnder([base, tmpfs])).toEqual([])
  })
})

test.runIf(!isRoot)('two-user folder checks need root to create a second OS user (skipped)', () => {
  // Run the suite as root (as CI containers do) to exercise them.
})
