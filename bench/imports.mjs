/**
 * Import benchmark: what `import 'pgrig/vitest'` costs next to `import 'pg'` and `import 'vitest'`
 * (issue 16: within 2× of `pg`), in one run. Each sample is a new Node process started from the repo
 * root (the built dist/, through the package's own exports); rows take turns. Also the part a Vitest
 * worker file adds once Vitest is loaded, what pgrig's globalSetup adds to Vitest's main process, and
 * the root `import 'pgrig'`.
 *
 * Run: `npm run bench:imports`. Options: `--runs N` (samples per row, default 15), `--ab-root DIR`
 * (also `import 'pgrig/vitest'` and the worker's share from another built checkout, e.g. main, in the
 * same rounds).
 */
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { arg, intArg } from './lib/args.mjs'
import { IMPORT_ROWS, measureImports, printImports } from './lib/import-cost.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const RUNS = intArg('runs', 15)
const AB_ROOT = arg('ab-root')
const abRows = AB_ROOT
  ? IMPORT_ROWS.filter((r) => r.imports.includes('pgrig/vitest') && !r.loaded?.includes('vitest/node')).map(
      (r) => ({
        ...r,
        label: `${r.label}, ${path.resolve(AB_ROOT)}`,
        cwd: path.resolve(AB_ROOT),
        target: undefined,
      }),
    )
  : []

const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')
const before = load()
const results = measureImports(ROOT, RUNS, [...IMPORT_ROWS, ...abRows])
console.log(
  `\n(load average before ${before}, after ${load()}; ${os.cpus().length} cores, Node ${process.version})`,
)
printImports(results, RUNS)
