import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { isAlive } from '../../src/servers/process-alive.js'

/** Test support: fixture projects that use this checkout as an installed `pgrig` package. */
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url))

export interface FixtureOptions {
  /**
   * How `pgrig` gets into the project: `tarball` installs what `npm pack` ships (built dist/,
   * package.json's files and exports), as a user's `npm install` would; `link` links this checkout.
   */
  install?: 'tarball' | 'link'
}

/**
 * A temp copy of test/fixtures/<name> whose node_modules links this repo's packages, with `pgrig`
 * itself unpacked from its tarball (default) or linked.
 */
export function fixtureProject(name: string, options: FixtureOptions = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pgrig-${name}-`))
  fs.cpSync(path.join(repoRoot, 'test', 'fixtures', name), dir, { recursive: true })
  const modules = path.join(dir, 'node_modules')
  fs.mkdirSync(modules)
  for (const entry of fs.readdirSync(path.join(repoRoot, 'node_modules'))) {
    if (entry.startsWith('.')) continue
    fs.symlinkSync(path.join(repoRoot, 'node_modules', entry), path.join(modules, entry))
  }
  const target = path.join(modules, 'pgrig')
  if (options.install === 'link') fs.symlinkSync(repoRoot, target)
  else {
    fs.mkdirSync(target)
    execFileSync('tar', ['-xzf', packedTarball(), '-C', target, '--strip-components=1'])
  }
  return dir
}

let tarball: string | undefined

/**
 * Removes packs left in the temp folder: a pack is named after the Vitest run that owns it (the
 * worker's parent process), since Vitest may end a worker without running its exit handlers. Before
 * each pack, the packs of runs that are gone go; at the end of the run (test/support/global-setup.ts,
 * in the run's own process), its workers' packs go too.
 */
export function sweepPacks(): void {
  for (const entry of fs.readdirSync(os.tmpdir())) {
    const pid = /^pgrig-pack-(\d+)-/.exec(entry)?.[1]
    if (pid && (Number(pid) === process.pid || !isAlive(Number(pid))))
      fs.rmSync(path.join(os.tmpdir(), entry), { recursive: true, force: true })
  }
}

/**
 * `npm pack` of this checkout's build, once per test process. It packs a copy of what the package
 * ships (dist/ is built already) with the package's own prepack/postpack, so the tarball's
 * package.json is the stripped one a user installs, and parallel packs never rewrite the repo's.
 */
export function packedTarball(): string {
  if (tarball && fs.existsSync(tarball)) return tarball
  sweepPacks()
  const dest = fs.mkdtempSync(path.join(os.tmpdir(), `pgrig-pack-${process.ppid}-`))
  const stage = path.join(dest, 'stage')
  const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { files: string[] }
  for (const entry of [...pkg.files, 'package.json', 'README.md', 'scripts/pack-manifest.mjs'])
    fs.cpSync(path.join(repoRoot, entry), path.join(stage, entry), { recursive: true })
  const out = execFileSync('npm', ['pack', '--silent', '--pack-destination', dest], {
    cwd: stage,
    encoding: 'utf8',
  })
  fs.rmSync(stage, { recursive: true, force: true })
  tarball = path.join(dest, out.trim().split('\n').pop()!)
  process.once('exit', () => fs.rmSync(dest, { recursive: true, force: true }))
  return tarball
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
