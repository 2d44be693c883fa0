import fs from 'node:fs'
import path from 'node:path'
import { expect, test } from 'vitest'

// `src/` is not shipped: a stack frame mapped into it must still show the source, and Vite must not
// warn "Sourcemap … points to missing source files" for every file of pgrig it loads.
test('every shipped source map carries the sources it points to', () => {
  const dist = path.resolve(import.meta.dirname, '..', 'dist')
  const maps = fs
    .readdirSync(dist, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.js.map'))
  expect(maps.length).toBeGreaterThan(50)
  for (const file of maps) {
    const map = JSON.parse(fs.readFileSync(path.join(dist, file), 'utf8')) as {
      sources: string[]
      sourcesContent?: (string | null)[]
    }
    expect(map.sourcesContent?.length, file).toBe(map.sources.length)
    expect(
      map.sourcesContent?.every((s) => typeof s === 'string' && s.length > 0),
      file,
    ).toBe(true)
  }
})
