import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { afterAll, expect, test } from 'vitest'
import { waitUntil } from '../src/servers/process-alive.js'
import { pgrig } from './support/cli.js'
import { privateRunRoot } from './support/run-root.js'

// A cache of this file's own (disk and tmpfs), so the damage below touches no other test's templates.
privateRunRoot('cache-damage')
const base = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-cache-damage-'))
const shm = fs.mkdtempSync(
  path.join(fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir(), 'pgrig-cache-damage-'),
)
for (const dir of [base, shm]) fs.chmodSync(dir, 0o755)
const env = { PGRIG_CACHE_DIR: path.join(base, 'cache'), PGRIG_TMPFS_DIR: shm, CI: '1' }
afterAll(async () => {
  await pgrig(['down', '--all'], { env })
  for (const dir of [base, shm]) fs.rmSync(dir, { recursive: true, force: true })
})

const templatesIn = (dir: string) =>
  fs.existsSync(dir)
    ? fs.readdirSync(dir).filter((n) => !n.startsWith('.') && !n.endsWith('.spares') && !n.includes('.tmp-'))
    : []

function overwrite(file: string): void {
  const fd = fs.openSync(file, 'r+')
  fs.writeSync(fd, Buffer.alloc(512, 0xab), 0, 512, 0)
  fs.closeSync(fd)
}

test('a damaged cached template: doctor names it, the next start rebuilds it instead of failing', async () => {
  const first = await pgrig(['up', '--name', 'damage-a', '--json'], { env })
  expect(first.code, first.stderr).toBe(0)
  await pgrig(['down', 'damage-a'], { env })
  const onDisk = path.join(env.PGRIG_CACHE_DIR, 'datadirs')
  const onTmpfs = path.join(shm, `pgrig-${process.getuid?.() ?? 0}`, 'templates')
  // The disk copy is made in the background after the first start.
  expect(await waitUntil(() => templatesIn(onDisk).length === 1, 30_000)).toBe(true)
  const [name] = templatesIn(onTmpfs)
  expect(name).toBeDefined()
  overwrite(path.join(onTmpfs, name!, 'global', 'pg_control'))
  const db = fs.readdirSync(path.join(onDisk, name!, 'base'))[0]!
  overwrite(path.join(onDisk, name!, 'base', db, '1259'))

  const doctor = await pgrig(['doctor'], { env })
  expect(doctor.code).toBe(1)
  const line = doctor.stdout.split('\n').find((l) => l.includes('cached templates'))
  expect(line).toMatch(/^FAIL +cached templates: 2 of 2 damaged: /)
  expect(line).toContain(`${path.join(onTmpfs, name!)} (global/pg_control differs from when it was built)`)
  expect(line).toContain(`${path.join(onDisk, name!)} (base/${db}/1259 differs from when it was built)`)

  const second = await pgrig(['up', '--name', 'damage-b', '--json'], { env })
  expect(second.code, second.stderr).toBe(0)
  expect(second.stderr).toBe('')
  await pgrig(['down', 'damage-b'], { env })
  expect(await waitUntil(() => templatesIn(onDisk).length === 1, 30_000)).toBe(true)
  const after = await pgrig(['doctor'], { env })
  expect(after.stdout).toMatch(/ok +cached templates: 2 checked, all whole/)
})
