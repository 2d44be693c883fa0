/**
 * Import benchmark: what `import 'pgrig/vitest'` costs next to `import 'pg'` and `import 'vitest'`
 * (issue 16: within 2× of `pg`), in one run. Each sample is a new Node process started from the repo
 * root (the built dist/, through the package's own exports); rows take turns. Also the part a Vitest
 * worker file adds once Vitest is loaded, what pgrig's globalSetup adds to Vitest's main process, and
 * the root `import 'pgrig'`.
 *
 * Run: `npm run bench:imports`. Options: `--runs N` (samples per row, default 15).
 */
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { intArg } from './lib/args.mjs'
import { measureImports, printImports } from './lib/import-cost.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const RUNS = intArg('runs', 15)

const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')
const before = load()
const results = measureImports(ROOT, RUNS)
console.log(
  `\n(load average before ${before}, after ${load()}; ${os.cpus().length} cores, Node ${process.version})`,
)
printImports(results, RUNS)
