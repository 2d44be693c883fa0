/**
 * The documentation's code is tested code: every ```ts / ```js block in README.md and docs/*.md is
 * either cut from a file the suite runs (a `<!-- from: path -->` line before it; each of its lines is
 * in that file) or type-checks against pgrig's built types, as a user's project would import them.
 * A `<!-- context: … -->` line before a block gives it declarations it assumes (`declare const pg: …`),
 * checked with it but not shown. Relative links and their #anchors must resolve.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { expect, test } from 'vitest'

const root = fileURLToPath(new URL('..', import.meta.url))

/** README.md and every page under docs/, as paths relative to the repository root. */
function docFiles(): string[] {
  const pages = fs
    .readdirSync(path.join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`)
  return ['README.md', ...pages.sort()]
}

interface CodeBlock {
  file: string
  /** 1-based line of the opening fence */
  line: number
  lang: 'ts' | 'js'
  code: string
  from?: string
  context?: string
}

/** The ```ts / ```js blocks of a Markdown file, with the marker comments just before each. */
function codeBlocks(file: string): CodeBlock[] {
  const lines = fs.readFileSync(path.join(root, file), 'utf8').split('\n')
  const blocks: CodeBlock[] = []
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\w*)/.exec(lines[i]!)
    if (!fence) continue
    const end = lines.findIndex((l, j) => j > i && l.startsWith('```'))
    if (end < 0) throw new Error(`${file}:${i + 1}: code block never closed`)
    const lang = fence[1]
    if (lang === 'ts' || lang === 'js') {
      const block: CodeBlock = { file, line: i + 1, lang, code: lines.slice(i + 1, end).join('\n') }
      for (let k = i - 1; k >= 0 && (lines[k]!.trim() === '' || lines[k]!.startsWith('<!--')); k--) {
        const marker = /^<!-- (from|context): ([\s\S]*?) -->$/.exec(lines[k]!.trim())
        if (marker?.[1] === 'from') block.from = marker[2]!
        if (marker?.[1] === 'context') block.context = marker[2]!
      }
      blocks.push(block)
    }
    i = end
  }
  return blocks
}

const allBlocks = () => docFiles().flatMap(codeBlocks)

test('a block marked `from:` is cut from that file, line for line', () => {
  const wrong: string[] = []
  for (const block of allBlocks().filter((b) => b.from)) {
    const source = path.join(root, block.from!)
    if (!fs.existsSync(source)) {
      wrong.push(`${block.file}:${block.line}: ${block.from} does not exist`)
      continue
    }
    const sourceLines = new Set(fs.readFileSync(source, 'utf8').split('\n'))
    for (const line of block.code.split('\n')) {
      if (line.trim() !== '' && !sourceLines.has(line)) {
        wrong.push(`${block.file}:${block.line}: not in ${block.from}: ${line.trim()}`)
      }
    }
  }
  expect(wrong, 'copy the block again from the file it names').toEqual([])
})

/** A folder outside the repository whose node_modules holds the repository's packages and pgrig itself. */
function userProject(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-docs-check-'))
  const modules = path.join(dir, 'node_modules')
  fs.mkdirSync(modules)
  for (const name of fs.readdirSync(path.join(root, 'node_modules'))) {
    if (name === '.bin' || name.startsWith('.')) continue
    fs.symlinkSync(path.join(root, 'node_modules', name), path.join(modules, name))
  }
  fs.symlinkSync(root.replace(/\/$/, ''), path.join(modules, 'pgrig'))
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }))
  return dir
}

test('every other ts / js block type-checks against the built pgrig', () => {
  expect(
    fs.existsSync(path.join(root, 'dist/index.d.ts')),
    'no dist/: run `npm run build` first (npm test does)',
  ).toBe(true)
  const blocks = allBlocks().filter((b) => !b.from)
  const dir = userProject()
  try {
    const files = new Map<string, CodeBlock>()
    blocks.forEach((block, n) => {
      const file = path.join(dir, `block-${n}.${block.lang === 'ts' ? 'ts' : 'mjs'}`)
      // the context goes on the block's first line so that reported lines stay the block's own
      const context = block.context ? `${block.context}; ` : ''
      fs.writeFileSync(file, `${context}${block.code}\nexport {}\n`)
      files.set(file, block)
    })
    const program = ts.createProgram([...files.keys()], {
      target: ts.ScriptTarget.ES2022,
      lib: ['lib.es2023.d.ts', 'lib.esnext.disposable.d.ts', 'lib.dom.d.ts'],
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      strict: true,
      esModuleInterop: true,
      skipLibCheck: true,
      allowJs: true,
      checkJs: true,
      noEmit: true,
      types: ['node'],
    })
    const errors = ts.getPreEmitDiagnostics(program).map((d) => {
      const block = d.file && files.get(d.file.fileName)
      const message = ts.flattenDiagnosticMessageText(d.messageText, ' ')
      if (!block || d.start === undefined) return message
      const { line } = d.file!.getLineAndCharacterOfPosition(d.start)
      return `${block.file}:${block.line + 1 + line}: ${message}`
    })
    expect(errors, 'fix the block, or give it a <!-- context: … --> line with what it assumes').toEqual([])
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}, 120_000)

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-')
}

function anchorsOf(file: string): Set<string> {
  const text = fs.readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```/gm, '')
  return new Set([...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => anchor(m[1]!)))
}

test('every relative link in the docs reaches a file, and its #anchor a heading there', () => {
  const broken: string[] = []
  for (const file of docFiles()) {
    const text = fs.readFileSync(path.join(root, file), 'utf8').replace(/^```[\s\S]*?^```/gm, '')
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(target!)) continue
      const [pathPart, hash] = target!.split('#')
      const resolved = pathPart ? path.join(root, path.dirname(file), pathPart) : path.join(root, file)
      if (!fs.existsSync(resolved)) broken.push(`${file}: ${target} (no such file)`)
      else if (hash && !(resolved.endsWith('.md') && anchorsOf(resolved).has(hash))) {
        broken.push(`${file}: ${target} (no such heading)`)
      }
    }
  }
  expect(broken).toEqual([])
})

test('docs/README.md links every page under docs/, and README.md links docs/README.md', () => {
  const index = fs.readFileSync(path.join(root, 'docs/README.md'), 'utf8')
  const unlisted = docFiles()
    .filter((file) => file.startsWith('docs/') && file !== 'docs/README.md')
    .filter((file) => !index.includes(`](${path.basename(file)}`))
  expect(unlisted, 'add these pages to the table in docs/README.md').toEqual([])
  expect(fs.readFileSync(path.join(root, 'README.md'), 'utf8')).toContain('](docs/README.md)')
})
