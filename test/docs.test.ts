/**
 * The documentation's code is tested code. Every fenced block in README.md and docs/*.md carries a
 * marker on the line before it:
 * - `<!-- from: path -->`: the block is that whole file, which the suite or the examples run;
 * - `<!-- from: path#name -->`: the block is the region `name` of that file: the lines between
 *   `#region name` and `#endregion name` comments, each part dedented, parts joined by a blank line
 *   (so an import at the top and the code inside a test make one block);
 * - `<!-- illustrative: why -->`: an output sample, a map or a one-line command that is not code to run,
 *   the why naming the file (test or check) that covers what it shows; the `npx pgrig …` commands of an
 *   illustrative shell block must exist in the built CLI with every flag they use.
 * A block that differs from its source, a source that does not exist or lies outside the run code
 * (examples/, test/), and a block without a marker fail. Relative links and their #anchors must resolve.
 */
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
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
  /** where the block is, `file:line` of its opening fence */
  at: string
  lang: string
  code: string
  marker?: { kind: 'from' | 'illustrative'; value: string }
}

/** The fenced blocks of a Markdown file, each with the marker comment just before it. */
function codeBlocks(file: string): CodeBlock[] {
  const lines = fs.readFileSync(path.join(root, file), 'utf8').split('\n')
  const blocks: CodeBlock[] = []
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\w*)/.exec(lines[i]!)
    if (!fence) continue
    const end = lines.findIndex((l, j) => j > i && l.startsWith('```'))
    if (end < 0) throw new Error(`${file}:${i + 1}: code block never closed`)
    const block: CodeBlock = {
      at: `${file}:${i + 1}`,
      lang: fence[1]!,
      code: lines.slice(i + 1, end).join('\n'),
    }
    let k = i - 1
    while (k >= 0 && lines[k]!.trim() === '') k--
    const marker = /^<!-- (from|illustrative): ([\s\S]+?) -->$/.exec(lines[k]?.trim() ?? '')
    if (marker) block.marker = { kind: marker[1] as 'from' | 'illustrative', value: marker[2]! }
    blocks.push(block)
    i = end
  }
  return blocks
}

const allBlocks = () => docFiles().flatMap(codeBlocks)

/** The lines without their common leading whitespace. */
function dedent(lines: string[]): string[] {
  const indents = lines.filter((l) => l.trim() !== '').map((l) => /^\s*/.exec(l)![0].length)
  const cut = Math.min(...indents)
  return lines.map((l) => l.slice(cut))
}

/** Region `name` of a source text: its parts, dedented, joined by a blank line; undefined when absent. */
function region(text: string, name: string): string | undefined {
  const parts: string[][] = []
  let part: string[] | undefined
  for (const line of text.split('\n')) {
    const mark = /#(region|endregion) (\S+)/.exec(line)
    if (mark && mark[2] === name) {
      if (mark[1] === 'region') part = []
      else if (part) {
        parts.push(dedent(part))
        part = undefined
      }
    } else if (part && !/#(region|endregion) /.test(line)) part.push(line)
  }
  return parts.length ? parts.map((p) => p.join('\n')).join('\n\n') : undefined
}

/** What a `from:` marker says the block is, or why it cannot say. */
function expected(from: string): { code?: string; problem?: string } {
  const [file, name] = from.split('#') as [string, string | undefined]
  if (!/^(examples|test)\//.test(file))
    return { problem: `${file} is not under examples/ or test/, which run` }
  const source = path.join(root, file)
  if (!fs.existsSync(source)) return { problem: `${file} does not exist` }
  const text = fs.readFileSync(source, 'utf8')
  if (!name) return { code: text.replace(/\n$/, '') }
  const code = region(text, name)
  return code === undefined ? { problem: `${file} has no region ${name}` } : { code }
}

/** The first line where two texts differ, for the failure message. */
function firstDifference(block: string, source: string): string {
  const a = block.split('\n')
  const b = source.split('\n')
  const n = a.findIndex((line, i) => line !== b[i])
  const at = n < 0 ? a.length : n
  return `line ${at + 1}: block has ${JSON.stringify(a[at] ?? '(end)')}, source has ${JSON.stringify(b[at] ?? '(end)')}`
}

test('every block says where it comes from, and is that source exactly', () => {
  const wrong: string[] = []
  for (const block of allBlocks()) {
    if (!block.marker) {
      wrong.push(
        `${block.at}: no <!-- from: path#region --> (or <!-- illustrative: why -->) before the block`,
      )
      continue
    }
    if (block.marker.kind === 'illustrative') continue
    const { code, problem } = expected(block.marker.value)
    if (problem) wrong.push(`${block.at}: ${problem}`)
    else if (code !== block.code)
      wrong.push(`${block.at}: drifted from ${block.marker.value}, ${firstDifference(block.code, code!)}`)
  }
  expect(wrong, 'copy the block again from its source (or mark it, see the top of this file)').toEqual([])
})

test('an illustrative block is not code and names the file that covers it', () => {
  const wrong: string[] = []
  for (const block of allBlocks().filter((b) => b.marker?.kind === 'illustrative')) {
    if (['ts', 'js', 'python', 'py', 'go', 'cs', 'java'].includes(block.lang)) {
      wrong.push(
        `${block.at}: ${block.lang} is code: cut it from a file that runs (<!-- from: path#region -->)`,
      )
    }
    const named = [...block.marker!.value.matchAll(/[\w.-]+(?:\/[\w.-]*)+/g)].map((m) => m[0])
    if (!named.some((p) => fs.existsSync(path.join(root, p)))) {
      wrong.push(`${block.at}: say which test or check covers it (a path): "${block.marker!.value}"`)
    }
  }
  expect(wrong).toEqual([])
})

test('a region is its parts, dedented, joined by a blank line', () => {
  const text = [
    '// #region a',
    "import x from 'x'",
    '// #endregion a',
    "test('t', () => {",
    '  // #region a',
    '  x()',
    '  // #region b',
    '  x(2)',
    '  // #endregion b',
    '  // #endregion a',
    '})',
  ].join('\n')
  expect(region(text, 'a')).toBe("import x from 'x'\n\nx()\nx(2)")
  expect(region(text, 'b')).toBe('x(2)')
  expect(region(text, 'c')).toBeUndefined()
})

test('the pgrig commands of illustrative shell blocks exist, with every flag they use', () => {
  const cli = path.join(root, 'dist/cli/main.js')
  expect(fs.existsSync(cli), 'no dist/: run `npm run build` first (npm test does)').toBe(true)
  const wrong: string[] = []
  const blocks = allBlocks().filter((b) => b.marker?.kind === 'illustrative' && b.lang === 'sh')
  for (const block of blocks) {
    for (const line of block.code.split('\n')) {
      const args = /\bnpx pgrig ([^#]*)/.exec(line)?.[1]?.split(' -- ')[0]?.trim().split(/\s+/)
      if (!args) continue
      const command = args.slice(
        0,
        Math.max(
          args.findIndex((a) => a.startsWith('-')),
          0,
        ) || args.length,
      )
      const help = execFileSync(process.execPath, [cli, ...command, '--help'], { encoding: 'utf8' })
      if (!help.startsWith(`Usage: pgrig ${command.join(' ')}`))
        wrong.push(`${block.at}: no command pgrig ${command.join(' ')}`)
      for (const flag of args.filter((a) => a.startsWith('--'))) {
        if (!new RegExp(`(^|[\\s,])${flag}\\b`, 'm').test(help))
          wrong.push(`${block.at}: pgrig ${command.join(' ')} has no ${flag}`)
      }
    }
  }
  expect(wrong).toEqual([])
})

test("docs/ARCHITECTURE.md's layer map names every folder of src/, and only those", () => {
  const map = codeBlocks('docs/ARCHITECTURE.md')[0]!.code.split('\n')
  // a row: names, then its description, two spaces or more apart
  const named = map.flatMap((line) =>
    line
      .split(/\s{2,}/)
      .slice(0, -1)
      .filter((name) => name.endsWith('/')),
  )
  const folders = fs
    .readdirSync(path.join(root, 'src'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => `${entry.name}/`)
  expect(named.sort(), 'update the map at the top of docs/ARCHITECTURE.md').toEqual(folders.sort())
})

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
