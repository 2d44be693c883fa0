import { spawnSync } from 'node:child_process'
import { expect, test } from 'vitest'
import { repoRoot } from './support/fixture-project.js'

/**
 * Every Vitest worker file, and every process that starts a server, pays for what `import 'pgrig'`
 * loads: certificates (@peculiar/x509), config validation (zod), the Redis client, the engine
 * installer's tar and progress bar (cli-progress), chaos and reports load only when used. A Vitest
 * worker file (`pgrig/vitest`) loads node-postgres only when a test opens `db.client` / `db.query`.
 */
const HOOK = `export async function resolve(specifier, context, next) {
  const result = await next(specifier, context)
  process.stderr.write('LOADED ' + result.url + '\\n')
  return result
}`

/** Every module URL a new Node process resolves while importing `entry` (built dist/). */
function loadedUrls(entry: string): string[] {
  const hook = `data:text/javascript,${encodeURIComponent(HOOK)}`
  const register = `import { register } from 'node:module'; register(${JSON.stringify(hook)})`
  const ran = spawnSync(
    process.execPath,
    [
      '--import',
      `data:text/javascript,${encodeURIComponent(register)}`,
      '--input-type=module',
      '-e',
      `await import(${JSON.stringify(entry)})`,
    ],
    { cwd: repoRoot, encoding: 'utf8' },
  )
  expect(ran.status, ran.stderr).toBe(0)
  return ran.stderr
    .split('\n')
    .filter((line) => line.startsWith('LOADED '))
    .map((line) => line.slice('LOADED '.length))
}

// The last one is what Vitest's main process loads for the plugin's globalSetup.
for (const entry of ['pgrig', 'pgrig/vitest', './dist/integrations/vitest/global-setup.js']) {
  test(`import '${entry}' loads no certificates, config validation, Redis client, tar, progress bar, chaos or reports`, () => {
    const urls = loadedUrls(entry)
    expect(urls.some((u) => u.includes('/dist/'))).toBe(true)
    expect(
      urls.filter((u) =>
        /node_modules\/(zod|@peculiar|reflect-metadata|tsyringe|@redis|tar|cli-progress)\//.test(u),
      ),
    ).toEqual([])
    expect(urls.filter((u) => /\/dist\/(chaos|report)\//.test(u))).toEqual([])
  })
}

test("import 'pgrig/vitest' (what every worker file loads) loads neither node-postgres nor the failure forensics", () => {
  const urls = loadedUrls('pgrig/vitest')
  expect(urls.some((u) => u.includes('/dist/integrations/vitest/fixtures.js'))).toBe(true)
  expect(urls.filter((u) => /node_modules\/pg(-[a-z]+)?\//.test(u))).toEqual([])
  expect(
    urls.filter((u) => /\/dist\/(integrations\/lifecycle\/forensics|databases\/log-slice)\.js/.test(u)),
  ).toEqual([])
})
