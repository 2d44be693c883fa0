import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { afterAll, expect, test } from 'vitest'
import { CLI, pgrig } from './support/cli.js'
import { privateRunRoot } from './support/run-root.js'

privateRunRoot('up-secrets')
afterAll(() => pgrig(['down', '--all']))
const exec = promisify(execFile)

/** The passwords of the server called `name`, as `pgrig env` prints them on purpose. */
async function passwordsOf(name: string): Promise<string[]> {
  const { stdout } = await pgrig(['status', '--json', '--show-secrets'])
  const rows = (
    JSON.parse(stdout) as { servers: { name: string; password: string; superuser: { password: string } }[] }
  ).servers
  const server = rows.find((s) => s.name === name)!
  return [server.password, server.superuser.password]
}

test('pgrig up into a log (not a terminal) hides both passwords and says how to get them', async () => {
  const up = await pgrig(['up', '--name', 'secret-log'], { env: { CI: '' } })
  expect(up.code, up.stderr).toBe(0)
  const [app, superuser] = await passwordsOf('secret-log')
  for (const password of [app!, superuser!]) expect(up.stderr).not.toContain(password)
  expect(up.stderr).toMatch(/url +postgres(ql)?:\/\/app:\*\*\*@127\.0\.0\.1:\d+\/app/)
  expect(up.stderr).toMatch(/superuser +postgres(ql)?:\/\/postgres:\*\*\*@/)
  expect(up.stderr).toMatch(/psql +psql 'postgres(ql)?:\/\/app:\*\*\*@/)
  expect(up.stderr).toContain('npx pgrig env prints them, npx pgrig status --show-secrets the full URLs')
  // --show-secrets says so explicitly; --json (a machine contract) keeps the passwords.
  const shown = await pgrig(['up', '--name', 'secret-shown', '--show-secrets'])
  const [shownApp] = await passwordsOf('secret-shown')
  expect(shown.stderr).toContain(`://app:${shownApp}@`)
  const json = await pgrig(['up', '--name', 'secret-json', '--json'])
  const [jsonApp] = await passwordsOf('secret-json')
  expect(JSON.parse(json.stdout).servers[0].password).toBe(jsonApp)
})

test('at a terminal outside CI the URLs are whole; under CI, even at a terminal, they are hidden', async () => {
  // script(1) gives the CLI a pseudo-terminal, as a developer's shell does.
  const atTerminal = (name: string, ci: string) =>
    exec('script', ['-qec', `${process.execPath} ${CLI} up --name ${name}`, '/dev/null'], {
      env: { ...process.env, CI: ci },
    })
  const local = await atTerminal('secret-tty', '')
  const [app, superuser] = await passwordsOf('secret-tty')
  expect(local.stdout).toContain(`://app:${app}@`)
  expect(local.stdout).toContain(`://postgres:${superuser}@`)
  const ci = await atTerminal('secret-tty-ci', 'true')
  const [ciApp] = await passwordsOf('secret-tty-ci')
  expect(ci.stdout).not.toContain(ciApp)
  expect(ci.stdout).toContain('Passwords hidden')
})
