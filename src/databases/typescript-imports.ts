import fs from 'node:fs'
import module from 'node:module'

let registered = false

/**
 * Makes `import('…/0001_init.ts')` work in this process (Node 20 cannot load TypeScript itself), so a
 * function migration may load TypeScript files as Kysely's FileMigrationProvider does. Registered once,
 * before the first function migration runs; only `.ts`/`.mts`/`.cts` files are touched.
 */
export function allowTypeScriptImports(): void {
  if (registered || typeof module.register !== 'function') return
  registered = true
  const hooks = new URL('./typescript-hooks.js', import.meta.url)
  // Run from its TypeScript sources (pgrig's own tests), the runner already loads .ts files.
  if (fs.existsSync(hooks)) module.register(hooks)
}
