import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { expect, test } from 'vitest'

const root = fileURLToPath(new URL('..', import.meta.url))
const read = (file: string) => fs.readFileSync(root + file, 'utf8')

/** Every name src/index.ts exports, and whether it is a value or only a type (read from its syntax). */
function rootExports(): Map<string, 'value' | 'type'> {
  const source = ts.createSourceFile('index.ts', read('src/index.ts'), ts.ScriptTarget.Latest)
  const names = new Map<string, 'value' | 'type'>()
  for (const statement of source.statements) {
    if (!ts.isExportDeclaration(statement)) {
      throw new Error(`src/index.ts holds more than re-exports: ${statement.getText(source).slice(0, 60)}`)
    }
    const clause = statement.exportClause
    if (!clause || !ts.isNamedExports(clause)) {
      throw new Error(
        'src/index.ts re-exports a whole module (export *); name each export so the list stays checked',
      )
    }
    for (const element of clause.elements) {
      names.set(element.name.text, statement.isTypeOnly || element.isTypeOnly ? 'type' : 'value')
    }
  }
  return names
}

/** The table between the root-export markers of docs/ARCHITECTURE.md. */
function documentedExports(): { name: string; kind: string }[] {
  const doc = read('docs/ARCHITECTURE.md')
  const table = /<!-- root-export:start -->([\s\S]*?)<!-- root-export:end -->/.exec(doc)?.[1] ?? ''
  return [...table.matchAll(/^\|\s*`([^`]+)`\s*\|\s*(\w+)\s*\|/gm)].map((m) => ({ name: m[1]!, kind: m[2]! }))
}

/** The code a user reads: README.md and docs/*.md (but the architecture page), code spans and blocks only. */
function userDocsCode(): string {
  const pages = fs
    .readdirSync(root + 'docs')
    .filter((name) => name.endsWith('.md') && name !== 'ARCHITECTURE.md')
    .map((name) => read(`docs/${name}`))
  return [read('README.md'), ...pages]
    .flatMap((page) => [...page.matchAll(/```[\s\S]*?```|`[^`\n]+`/g)].map((m) => m[0]))
    .join('\n')
}

test('the root export is exactly the list in docs/ARCHITECTURE.md', async () => {
  const actual = rootExports()
  const documented = documentedExports()
  expect(documented.length, 'no root-export table found in docs/ARCHITECTURE.md').toBeGreaterThan(0)
  const listed = new Map(documented.map((d) => [d.name, d.kind]))
  const missing = [...actual.keys()].filter((name) => !listed.has(name))
  const gone = [...listed.keys()].filter((name) => !actual.has(name))
  expect(
    { missing, gone },
    'add exported names to the table in docs/ARCHITECTURE.md, remove names no longer exported',
  ).toEqual({
    missing: [],
    gone: [],
  })
  expect(Object.fromEntries(listed)).toEqual(Object.fromEntries(actual))
  // the syntax says what is a value: the module itself agrees
  const module = (await import('../src/index.js')) as Record<string, unknown>
  const values = [...actual].filter(([, kind]) => kind === 'value').map(([name]) => name)
  expect(Object.keys(module).sort()).toEqual(values.sort())
})

test('every root export is documented for users: in code in README.md or docs/*.md', () => {
  const code = userDocsCode()
  const undocumented = [...rootExports().keys()].filter((name) => !new RegExp(`\\b${name}\\b`).test(code))
  expect(
    undocumented,
    'document these in README.md or docs/*.md (docs/api.md lists the whole root API), or stop exporting them',
  ).toEqual([])
})

test('every name docs/api.md lists is a root export', () => {
  const exported = rootExports()
  const firstCells = [...read('docs/api.md').matchAll(/^\|\s*(`.+?)\s*\|/gm)].map((m) => m[1]!)
  const listed = firstCells.flatMap((cell) => [...cell.matchAll(/`(\w+)/g)].map((m) => m[1]!))
  expect(listed.length).toBeGreaterThan(0)
  expect(
    listed.filter((name) => !exported.has(name)),
    'docs/api.md lists these but src/index.ts does not export them',
  ).toEqual([])
})

test('the old names are the new ones, marked @deprecated and listed under "Old names" in docs/api.md', async () => {
  const module = (await import('../src/index.js')) as Record<string, unknown>
  expect(module.startCluster).toBe(module.startServer)
  expect(module.StartedCluster).toBe(module.StartedServer)
  // every @deprecated export of the old-names module, and only those, is in api.md's table
  const source = read('src/servers/old-names.ts')
  const deprecated = [
    ...source.matchAll(/\/\*\* @deprecated use (\w+) \*\/\nexport (?:const|type) (\w+) = (\w+)/g),
  ].map((m) => ({ old: m[2]!, use: m[1]!, is: m[3]! }))
  for (const { use, is } of deprecated)
    expect(is, 'an old name points at the name its @deprecated tag says').toBe(use)
  const section = read('docs/api.md').split('## Old names')[1] ?? ''
  const listed = [...section.matchAll(/^\|\s*`(\w+)`\s*\|\s*`(\w+)`\s*\|/gm)].map((m) => ({
    old: m[1]!,
    use: m[2]!,
  }))
  const unique = (rows: { old: string; use: string }[]) =>
    [...new Map(rows.map((r) => [r.old, r.use]))].sort(([a], [b]) => a.localeCompare(b))
  expect(unique(listed)).toEqual(unique(deprecated))
  expect(listed.length).toBe(4)
  const exported = rootExports()
  expect(listed.filter(({ old }) => !exported.has(old))).toEqual([])
})
