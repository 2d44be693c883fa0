import fs from 'node:fs'
import path from 'node:path'
import ts from 'typescript'
import { expect, test } from 'vitest'
import { RESULTS_SCHEMA, RESULTS_VERSION } from '../src/report/results.js'

// docs/reports-and-ci.md documents results.json field by field; the types in src/report/results.ts
// (what dist/report/results.d.ts is generated from) are the truth it must follow.
const TYPES = path.resolve('src/report/results.ts')
const DOC = path.resolve('docs/reports-and-ci.md')

/** Where each record's fields sit in the file. */
const PREFIX: Record<string, string> = {
  PgrigResults: '',
  PolicyRecord: 'policy.',
  RunRecord: 'runs[].',
  Environment: 'runs[].environment.',
  ServerEnvironment: 'runs[].environment.servers[].',
  TestRecord: 'runs[].tests[].',
  ErrorRecord: 'errors[].',
}
/** Fields that hold another record: documented through that record's fields. */
const RECORD_FIELDS = new Set(['policy', 'runs', 'environment', 'servers', 'tests'])
/** Lists of errors: one row for the list, the error's fields under `errors[]`. */
const ERROR_LISTS = new Set(['errors', 'unhandledErrors'])

function fieldsOfTypes(): string[] {
  const source = ts.createSourceFile(TYPES, fs.readFileSync(TYPES, 'utf8'), ts.ScriptTarget.Latest)
  const fields: string[] = []
  for (const statement of source.statements) {
    if (!ts.isInterfaceDeclaration(statement)) continue
    const prefix = PREFIX[statement.name.text]
    if (prefix === undefined) continue
    for (const member of statement.members) {
      if (!ts.isPropertySignature(member)) continue
      const name = member.name.getText(source)
      if (RECORD_FIELDS.has(name)) continue
      fields.push(`${prefix}${name}${ERROR_LISTS.has(name) ? '[]' : ''}`)
    }
  }
  return fields.sort()
}

function fieldsOfDoc(): string[] {
  const text = fs.readFileSync(DOC, 'utf8')
  const section = /<!-- results-format:start -->([\s\S]*?)<!-- results-format:end -->/.exec(text)?.[1] ?? ''
  return [...section.matchAll(/^\| `([^`]+)` /gm)].map((m) => m[1]!).sort()
}

test('the results format doc lists every field of the results types, and nothing else', () => {
  const types = fieldsOfTypes()
  expect(types.length).toBeGreaterThan(40)
  expect(fieldsOfDoc()).toEqual(types)
})

test('the doc names the schema and version the code writes', () => {
  const text = fs.readFileSync(DOC, 'utf8')
  expect(text).toMatch(
    new RegExp(`\`schema\` is \`"${RESULTS_SCHEMA}"\` and\\s+\`version\` is \`${RESULTS_VERSION}\``),
  )
})
