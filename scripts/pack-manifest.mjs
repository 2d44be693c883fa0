/**
 * What the packed package.json holds (issue 25): the fields a user's install reads, no dev scripts,
 * no `prepare` (npm warns `pgrig@… (prepare: npm run build)` on every install of a package that has
 * one), no devDependencies or overrides. `npm pack`/`npm publish` run `prepack` (strip: the full
 * package.json is kept beside it) and `postpack` (restore). test/packed-manifest.test.ts checks a
 * real pack's manifest.
 *
 *   node scripts/pack-manifest.mjs strip [dir]    node scripts/pack-manifest.mjs restore [dir]
 */
import fs from 'node:fs'
import path from 'node:path'

/** The top-level fields a packed package.json keeps; everything else is for this repository only. */
export const USER_FIELDS = [
  'name',
  'version',
  'description',
  'license',
  'type',
  'engines',
  'bin',
  'types',
  'exports',
  'typesVersions',
  'files',
  'dependencies',
  'optionalDependencies',
  'peerDependencies',
  'peerDependenciesMeta',
]

const BACKUP = 'package.json.full'

export function strip(dir) {
  const file = path.join(dir, 'package.json')
  const backup = path.join(dir, BACKUP)
  // A pack that died before postpack left the full one here: it is the one to strip.
  const full = fs.existsSync(backup) ? fs.readFileSync(backup, 'utf8') : fs.readFileSync(file, 'utf8')
  fs.writeFileSync(backup, full)
  const pkg = JSON.parse(full)
  const kept = Object.fromEntries(USER_FIELDS.filter((key) => key in pkg).map((key) => [key, pkg[key]]))
  fs.writeFileSync(file, `${JSON.stringify(kept, null, 2)}\n`)
}

export function restore(dir) {
  const backup = path.join(dir, BACKUP)
  if (fs.existsSync(backup)) fs.renameSync(backup, path.join(dir, 'package.json'))
}

const [command, dir = process.cwd()] = process.argv.slice(2)
if (command === 'strip') strip(dir)
else if (command === 'restore') restore(dir)
else if (command) {
  console.error(`pack-manifest: unknown command ${command}: use strip or restore`)
  process.exitCode = 2
}
