import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/** Test support: fixture projects that use this checkout as an installed `pgrig` package. */
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url))

/** A temp copy of test/fixtures/<name> whose node_modules links this repo's packages and `pgrig` itself. */
export function fixtureProject(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pgrig-${name}-`))
  fs.cpSync(path.join(repoRoot, 'test', 'fixtures', name), dir, { recursive: true })
  const modules = path.join(dir, 'node_modules')
  fs.mkdirSync(modules)
  for (const entry of fs.readdirSync(path.join(repoRoot, 'node_modules'))) {
    if (entry.startsWith('.')) continue
    fs.symlinkSync(path.join(repoRoot, 'node_modules', entry), path.join(modules, entry))
  }
  fs.symlinkSync(repoRoot, path.join(modules, 'pgrig'))
  return dir
}

export interface Ran {
  code: number
  output: string
  /** Lines the fixture tests appended to $FIXTURE_OUT. */
  records: { test: string; name: string; pid?: number }[]
}

export function runIn(dir: string, argv: string[], env: Record<string, string> = {}): Promise<Ran> {
  const out = path.join(os.tmpdir(), `pgrig-out-${Date.now()}-${Math.random().toString(36).slice(2)}.jsonl`)
  fs.writeFileSync(out, '')
  return new Promise((resolve, reject) => {
    const [file, ...args] = argv as [string, ...string[]]
    const child = spawn(file, args, {
      cwd: dir,
      env: { ...process.env, FIXTURE_OUT: out, CI: 'true', NO_COLOR: '1', ...env },
    })
    let output = ''
    child.stdout.on('data', (c: Buffer) => (output += c))
    child.stderr.on('data', (c: Buffer) => (output += c))
    child.on('error', reject)
    child.on('close', (code) => {
      const records = fs
        .readFileSync(out, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as Ran['records'][number])
      fs.rmSync(out, { force: true })
      resolve({ code: code ?? -1, output, records })
    })
  })
}
