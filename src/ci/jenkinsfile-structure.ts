/**
 * A structural reading of a declarative Jenkinsfile, for tests: brackets balance outside strings and
 * comments, and the block names appear in order. Jenkins itself (with Java) is the only full parser.
 */
export interface JenkinsBlock {
  name: string
  depth: number
}

export function jenkinsBlocks(source: string): JenkinsBlock[] {
  const blocks: JenkinsBlock[] = []
  const stack: string[] = []
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' }
  let word = ''
  let i = 0
  const fail = (why: string): never => {
    const line = source.slice(0, i).split('\n').length
    throw new Error(`Jenkinsfile line ${line}: ${why}`)
  }
  while (i < source.length) {
    const rest = source.slice(i)
    if (rest.startsWith('//')) {
      i = source.indexOf('\n', i) === -1 ? source.length : source.indexOf('\n', i)
      continue
    }
    const quote = ["'''", '"""', "'", '"'].find((q) => rest.startsWith(q))
    if (quote) {
      const end = source.indexOf(quote, i + quote.length)
      if (end === -1 || (quote.length === 1 && source.slice(i, end).includes('\n')))
        fail('unterminated string')
      word = ''
      i = end + quote.length
      continue
    }
    const ch = source[i]!
    if ('([{'.includes(ch)) {
      if (ch === '{') blocks.push({ name: word, depth: stack.filter((c) => c === '{').length })
      stack.push(ch)
      word = ch === '(' ? word : ''
    } else if (')]}'.includes(ch)) {
      if (stack.pop() !== pairs[ch]) fail(`unbalanced ${ch}`)
    } else if (/[\w$]/.test(ch)) {
      word = /[\w$]/.test(source[i - 1] ?? ' ') ? word + ch : ch
    } else if (ch === '\n') {
      word = ''
    }
    i++
  }
  if (stack.length) fail(`${stack.length} bracket(s) left open`)
  return blocks
}
