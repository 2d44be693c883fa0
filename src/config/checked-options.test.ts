import { execFile } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, expect, test } from 'vitest'

const exec = promisify(execFile)
const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-checked-'))
afterAll(() => fs.rmSync(cache, { recursive: true, force: true }))

// A new process each time, as every `pgrig up` and test run is: whether it loaded zod, and what it made of the options.
const SCRIPT = `
const { resolveServer } = await import(process.argv[1])
let out
try {
  out = { spec: resolveServer(JSON.parse(process.argv[2])) }
} catch (error) {
  out = { code: error.code }
}
const zod = Object.keys((await import('node:module')).createRequire(import.meta.url).cache).some((k) => k.includes('/zod/'))
process.stdout.write(JSON.stringify({ ...out, zod }))
`

async function resolveInNewProcess(
  options: object,
): Promise<{ spec?: unknown; code?: string; zod: boolean }> {
  const resolve = path.resolve('dist/config/resolve.js')
  expect(fs.existsSync(resolve), 'no dist/: run `npm run build` first').toBe(true)
  const { stdout } = await exec(
    process.execPath,
    ['--input-type=module', '-e', SCRIPT, resolve, JSON.stringify(options)],
    { env: { ...process.env, PGRIG_CACHE_DIR: cache } },
  )
  return JSON.parse(stdout)
}

test('options checked once are not checked again by a new process; others and invalid ones are', async () => {
  const options = { name: 'memo', password: 's3cret-memo-pw', settings: { work_mem: '8MB' } }
  const first = await resolveInNewProcess(options)
  expect(first.zod).toBe(true)
  const again = await resolveInNewProcess(options)
  expect(again).toEqual({ ...first, zod: false })

  const other = await resolveInNewProcess({ ...options, port: 5999 })
  expect(other.zod).toBe(true)
  for (let i = 0; i < 2; i++) {
    const invalid = await resolveInNewProcess({ ...options, port: 70000 })
    expect(invalid).toEqual({ code: 'E_CONFIG_INVALID', zod: true })
  }

  const file = path.join(cache, 'checked-options.json')
  expect(fs.statSync(file).mode & 0o777).toBe(0o600)
  expect(fs.readFileSync(file, 'utf8')).not.toContain('s3cret-memo-pw')

  // A memo others could have written is no evidence.
  fs.chmodSync(file, 0o644)
  expect((await resolveInNewProcess(options)).zod).toBe(true)
})
