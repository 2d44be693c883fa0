/**
 * The CommonJS build (issue 25): every file of src/ transformed one to one into dist/cjs/, beside the
 * ESM build tsc writes to dist/. One file per source file (no bundle) keeps one module graph, so a
 * CommonJS process holds one copy of each module's state, as an ESM one does. Run by `npm run build`
 * after tsc, which has checked the types and written the .d.ts files both builds share.
 *
 * esbuild rather than a second tsc pass: tsc refuses `import.meta` under `module: commonjs`, and its
 * CommonJS output keeps `import()` as `import()`, which Jest's CommonJS runtime cannot run without
 * --experimental-vm-modules. esbuild rewrites both: `import.meta.url` from `__filename`, and `import()`
 * as `require()` (pgrig's dependencies all ship CommonJS, or load through Node's require(esm)).
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { glob } from 'tinyglobby'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const outdir = path.join(root, 'dist', 'cjs')
const entryPoints = await glob(['src/**/*.ts'], {
  cwd: root,
  ignore: ['src/**/*.test.ts', 'src/cli/main.ts'],
  absolute: true,
})

fs.rmSync(outdir, { recursive: true, force: true })
await build({
  entryPoints,
  outdir,
  outbase: path.join(root, 'src'),
  bundle: false,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  sourcemap: true,
  logLevel: 'warning',
  supported: { 'dynamic-import': false },
  // `import.meta.url` names the file's ESM twin (dist/x.js for dist/cjs/x.js): what pgrig hands other
  // loaders by path (Vitest's globalSetup and setup files, worker threads, spawned helpers) stays the
  // ESM build they expect, and those run in their own module graph either way.
  banner: {
    js:
      'var __pgrigEsmFile = __dirname.replace(/([\\\\/])dist[\\\\/]cjs(?=[\\\\/])(?!.*[\\\\/]dist[\\\\/]cjs[\\\\/])/, "$1dist"), ' +
      '__pgrigImportMetaUrl = require("node:url").pathToFileURL(require("node:path").join(__pgrigEsmFile, require("node:path").basename(__filename))).href;',
  },
  define: { 'import.meta.url': '__pgrigImportMetaUrl', 'import.meta.dirname': '__pgrigEsmFile' },
})
// pgrig/vitest under `require` is what a vitest.config.ts in a CommonJS package gets (Vite bundles that
// config to CommonJS): it reads `pgrig` only. Vitest's runtime refuses require() (its index.cjs throws),
// and test files under Vitest load the ESM build whatever the package's type, so the runtime half
// (`test`, `expect`, …) is required on first use rather than when the config loads.
const vitestIndex = path.join(outdir, 'integrations', 'vitest', 'index.js')
const eager = 'var import_fixtures = require("./fixtures.js");\nvar import_vitest = require("vitest");'
const code = fs.readFileSync(vitestIndex, 'utf8')
if (!code.includes(eager))
  throw new Error(`build-cjs: ${vitestIndex} no longer has the requires it makes lazy`)
fs.writeFileSync(
  vitestIndex,
  code.replace(
    eager,
    'var __lazy = (id) => { let m; return new Proxy({}, { get: (_, key) => (m ??= require(id))[key] }); };\n' +
      'var import_fixtures = __lazy("./fixtures.js");\nvar import_vitest = __lazy("vitest");',
  ),
)
// The .js files under dist/cjs are CommonJS whatever the package's "type" says.
fs.writeFileSync(path.join(outdir, 'package.json'), '{ "type": "commonjs" }\n')
// Types for `require`: the same declarations, read as CommonJS ones beside the CommonJS code.
for (const file of await glob(['**/*.d.ts'], { cwd: path.join(root, 'dist'), ignore: ['cjs/**'] })) {
  fs.mkdirSync(path.dirname(path.join(outdir, file)), { recursive: true })
  fs.copyFileSync(path.join(root, 'dist', file), path.join(outdir, file))
}
