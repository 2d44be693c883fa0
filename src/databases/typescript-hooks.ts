/**
 * Node module hooks (registered by typescript-imports.ts) that let a native `import()` load a
 * `.ts`, `.mts` or `.cts` file, as Kysely's FileMigrationProvider does: the file is loaded through
 * jiti, as pgrig loads its config. Every other URL goes to Node's own loader untouched.
 */
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'

interface LoadResult {
  format: string
  source: string
  shortCircuit: boolean
}
type NextLoad = (url: string, context: unknown) => Promise<unknown>

const TYPESCRIPT = /^file:.*\.(ts|mts|cts)$/

/** The names a module exports, read from its text (enough for migration files' `up`/`down`). */
export function exportedNames(source: string): string[] {
  const names = new Set<string>()
  for (const m of source.matchAll(
    /^\s*export\s+(?:declare\s+)?(?:async\s+)?(?:function\*?|const|let|var|class)\s+([A-Za-z_$][\w$]*)/gm,
  )) {
    names.add(m[1]!)
  }
  for (const m of source.matchAll(/^\s*export\s*\{([^}]*)\}/gm)) {
    for (const part of m[1]!.split(',')) {
      const name = part
        .trim()
        .split(/\s+as\s+/)
        .pop()
        ?.trim()
      if (name && name !== 'default' && !name.startsWith('type ')) names.add(name)
    }
  }
  return [...names]
}

export async function load(url: string, context: unknown, nextLoad: NextLoad): Promise<unknown> {
  if (!TYPESCRIPT.test(url)) return nextLoad(url, context)
  const file = fileURLToPath(url)
  const jiti = pathToFileURL(createRequire(import.meta.url).resolve('jiti')).href
  const names = exportedNames(readFileSync(file, 'utf8'))
  const source = [
    `import { createJiti } from ${JSON.stringify(jiti)}`,
    `const loaded = await createJiti(${JSON.stringify(url)}, { moduleCache: false }).import(${JSON.stringify(file)})`,
    `export default loaded && 'default' in loaded ? loaded.default : loaded`,
    ...names.map((name) => `export const ${name} = loaded.${name}`),
  ].join('\n')
  const result: LoadResult = { format: 'module', source, shortCircuit: true }
  return result
}
