import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { expect, test } from 'vitest'
import { USER_FIELDS } from '../scripts/pack-manifest.mjs'
import { packedTarball, repoRoot } from './support/fixture-project.js'

// Issue 25: every install of the packed package warned `pgrig@0.1.0 (prepare: npm run build)`.
interface Manifest {
  scripts?: unknown
  exports: Record<
    string,
    string | { import: { types: string; default: string }; require: { types: string; default: string } }
  >
}

const packed = (file: string) =>
  execFileSync('tar', ['-xzOf', packedTarball(), `package/${file}`], { encoding: 'utf8' })

test('the packed package.json has only user-facing fields: no scripts, prepare or devDependencies', () => {
  const manifest = JSON.parse(packed('package.json')) as Manifest
  expect(Object.keys(manifest).filter((key) => !USER_FIELDS.includes(key))).toEqual([])
  expect(manifest.scripts).toBeUndefined()
  const repo = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>
  }
  // `npm pack` and `npm publish` strip it through the same script the test pack ran.
  expect(repo.scripts.prepack).toBe('node scripts/pack-manifest.mjs strip')
  expect(repo.scripts.postpack).toBe('node scripts/pack-manifest.mjs restore')
})

test('every entry point ships an ESM and a CommonJS build, each with its types', () => {
  const manifest = JSON.parse(packed('package.json')) as Manifest
  const files = execFileSync('tar', ['-tzf', packedTarball()], { encoding: 'utf8' }).split('\n')
  const targets = Object.values(manifest.exports)
    .filter((entry) => typeof entry !== 'string')
    .flatMap((entry) => [
      entry.import.default,
      entry.import.types,
      entry.require.default,
      entry.require.types,
    ])
  expect(targets.length).toBeGreaterThanOrEqual(28)
  for (const target of targets) expect(files, target).toContain(`package/${target.slice(2)}`)
  expect(JSON.parse(packed('dist/cjs/package.json'))).toEqual({ type: 'commonjs' })
})
