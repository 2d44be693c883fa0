import type { Readable } from 'node:stream'

/**
 * Copies `input` to `output` a whole line at a time, each line led by `prefix`, so the output of
 * runs side by side interleaves by line instead of mid-line. Resolves once the input has ended.
 */
export function pipePrefixed(input: Readable, output: NodeJS.WritableStream, prefix: string): Promise<void> {
  return new Promise((resolve) => {
    let pending = ''
    input.setEncoding('utf8')
    input.on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\n')
      pending = lines.pop() ?? ''
      if (lines.length) output.write(lines.map((line) => `${prefix}${line}\n`).join(''))
    })
    input.on('close', () => {
      if (pending) output.write(`${prefix}${pending}\n`)
      resolve()
    })
  })
}
