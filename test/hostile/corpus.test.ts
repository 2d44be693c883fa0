import { execFile, execFileSync } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { serveToxiproxyApi, type ToxiproxyApi } from '../../src/chaos/proxy/http-api.js'
import { startServe, type Serving } from '../../src/serve/serve.js'
import { startServer, type StartedServer } from '../../src/servers/start-server.js'
import { closeOwnedRun } from '../../src/servers/run.js'
import { privateRunRoot } from '../support/run-root.js'

/**
 * One runner for the hostile-input corpus (corpus.json): every entry must be refused with one
 * line, a non-zero exit (or a 4xx status), no stack trace and no hang, and leave nothing running.
 */
interface Entry {
  kind: 'cli' | 'config' | 'http'
  why: string
  match: string
  args?: string[]
  env?: Record<string, string | null>
  files?: Record<string, unknown>
  config?: unknown
  oneLine?: boolean
  asNobody?: boolean
  method?: string
  path?: string
  status?: number
  body?: unknown
  bodyBytes?: number
  /** Kill the CLI after this many ms (default 30000): a hang is a failure, not a slow pass. */
  bound?: number
  /** Where the one line goes: stderr (default), or stdout for doctor's report. */
  output?: 'stderr' | 'stdout'
  /** Needs $FULL, a 20 MB tmpfs this file mounts (as root; skipped elsewhere). */
  fullDisk?: boolean
  /**
   * http: the API asked. `chaos` (the default) is started as `pgrig chaos serve
   * --allow-remote-listen`, so its entries reach what the machine cannot bind; `chaos-default` as
   * plain `pgrig chaos serve`; `serve` is `pgrig serve` over a real server (IntegreSQL's routes).
   */
  api?: 'chaos' | 'chaos-default' | 'serve'
  /** http: headers sent as they are (Host, Origin, User-Agent, Content-Type, Content-Length). */
  headers?: Record<string, string>
}

const runRoot = privateRunRoot('hostile')
const CLI = path.resolve('dist/cli/main.js')
const corpus = JSON.parse(fs.readFileSync(new URL('./corpus.json', import.meta.url), 'utf8')) as {
  entries: Entry[]
}
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'pgrig-hostile-'))
fs.chmodSync(scratch, 0o755)
const FILE = path.join(scratch, 'a-file')
fs.writeFileSync(FILE, 'not a folder\n')
// A small file system to fill: the template copy and initdb run out of space on it.
const FULL = process.getuid?.() === 0 ? mountSmallTmpfs(path.join(scratch, 'full')) : undefined
let cleaned = false
/** Unmounts $FULL, then removes the scratch folder holding it; also run by the last check, whatever it finds. */
function cleanUp(): void {
  if (cleaned) return
  cleaned = true
  if (FULL) execFileSync('umount', ['-l', FULL])
  fs.rmSync(scratch, { recursive: true, force: true })
}
afterAll(cleanUp)

const isRoot = process.getuid?.() === 0
function mountSmallTmpfs(dir: string): string | undefined {
  fs.mkdirSync(dir, { mode: 0o755 })
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=20m,mode=755', 'tmpfs', dir], { stdio: 'ignore' })
    return dir
  } catch {
    return undefined // no mount privilege (a container): the disk-full entries are skipped
  }
}

let counter = 0
function substitute(text: string, tmp: string): string {
  return text
    .replaceAll('$TMP', tmp)
    .replaceAll('$FILE', FILE)
    .replaceAll('$FULL', FULL ?? '/nonexistent')
}

function runCli(
  entry: Entry,
): Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }> {
  const tmp = path.join(scratch, `e${++counter}`)
  fs.mkdirSync(tmp, { recursive: true, mode: 0o755 })
  for (const [file, content] of Object.entries(entry.files ?? {})) {
    fs.mkdirSync(path.dirname(path.join(tmp, file)), { recursive: true })
    fs.writeFileSync(path.join(tmp, file), typeof content === 'string' ? content : JSON.stringify(content))
  }
  if (entry.kind === 'config') {
    const text = typeof entry.config === 'string' ? entry.config : JSON.stringify(entry.config)
    fs.writeFileSync(path.join(tmp, 'pgrig.config.json'), substitute(text, tmp))
  }
  const env: NodeJS.ProcessEnv = { ...process.env, PGRIG_RUN_ROOT: runRoot, NO_COLOR: '1' }
  for (const [key, value] of Object.entries(entry.env ?? {})) {
    if (value === null) delete env[key]
    else env[key] = substitute(value, tmp)
  }
  const args = [CLI, ...(entry.args ?? []).map((a) => substitute(a, tmp))]
  const [file, argv] = entry.asNobody
    ? ['setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, ...args]]
    : [process.execPath, args]
  return new Promise((resolve) => {
    execFile(
      file,
      argv,
      { cwd: tmp, env, timeout: entry.bound ?? 30_000, killSignal: 'SIGKILL' },
      (error, stdout, stderr) => {
        const e = error as (Error & { code?: number; signal?: string }) | null
        resolve({
          code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
          signal: e?.signal ?? null,
          stdout,
          stderr,
        })
      },
    )
  })
}

function request(port: number, entry: Entry): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // $PORT: the port of the API asked (a listen address it has taken itself)
    const own = (text: string) => text.replaceAll('$PORT', String(port))
    const headers = Object.fromEntries(Object.entries(entry.headers ?? {}).map(([k, v]) => [k, own(v)]))
    const payload = own(typeof entry.body === 'string' ? entry.body : JSON.stringify(entry.body ?? {}))
    // Node sends a GET's or DELETE's body unframed unless its length is given
    if (!entry.bodyBytes) headers['Content-Length'] ??= String(Buffer.byteLength(payload))
    const options = { host: '127.0.0.1', port, method: entry.method, path: entry.path, headers }
    const req = http.request(options, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => (body += c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', (error) => (entry.bodyBytes ? undefined : reject(error)))
    if (entry.bodyBytes) {
      // Written in chunks: the server answers 413 and closes long before the end.
      const chunk = Buffer.alloc(1024 * 1024, 'x')
      let sent = 0
      const pump = () => {
        while (sent < entry.bodyBytes! && !req.destroyed) {
          sent += chunk.length
          if (!req.write(chunk)) return req.once('drain', pump)
        }
        req.end()
      }
      pump()
    } else {
      req.end(payload)
    }
  })
}

function assertOneLine(stderr: string, match: string, oneLine = true): void {
  expect(stderr, 'no stack trace').not.toMatch(/\n\s+at |TypeError|ReferenceError/)
  if (oneLine) expect(stderr, 'exactly one line, starting pgrig:').toMatch(/^pgrig: [^\n]+\n$/)
  expect(stderr).toMatch(new RegExp(match))
}

const cliEntries = corpus.entries.filter((e) => e.kind !== 'http')
const httpEntries = corpus.entries.filter((e) => e.kind === 'http')

test('the corpus holds at least 200 hostile inputs', () => {
  expect(corpus.entries.length).toBeGreaterThanOrEqual(200)
})

describe.concurrent('CLI and config', () => {
  for (const entry of cliEntries) {
    const title = `${entry.kind} ${JSON.stringify(entry.args)}${entry.env ? ` ${JSON.stringify(entry.env)}` : ''}: ${entry.why}`
    test.skipIf((entry.asNobody && !isRoot) || (entry.fullDisk && !FULL))(title, async () => {
      const result = await runCli(entry)
      expect(result.signal, `no hang past ${entry.bound ?? 30_000} ms`).toBeNull()
      expect(result.code, result.stderr).not.toBe(0)
      if (entry.output === 'stdout') {
        // doctor: a report of one line per check on stdout, the failing one saying why.
        expect(result.stderr).toBe('')
        expect(result.stdout, 'no stack trace').not.toMatch(/\n\s+at |TypeError|ReferenceError/)
        expect(result.stdout).toMatch(new RegExp(entry.match))
      } else {
        assertOneLine(result.stderr, entry.match, entry.oneLine !== false)
      }
    })
  }
})

describe('HTTP APIs', () => {
  let api: ToxiproxyApi
  let plain: ToxiproxyApi
  let server: StartedServer | undefined
  let serving: Serving | undefined
  const ports = { chaos: 0, 'chaos-default': 0, serve: 0 }
  beforeAll(async () => {
    const needsServe = httpEntries.some((e) => e.api === 'serve')
    ;[api, plain, server] = await Promise.all([
      serveToxiproxyApi({ port: 0, allowRemoteListen: true }),
      serveToxiproxyApi({ port: 0 }),
      needsServe ? startServer({ name: 'hostile-serve', quiet: true }) : undefined,
    ])
    if (server) serving = await startServe({ server: server.info, port: 0, poolSize: 0, poolMax: 1 })
    Object.assign(ports, { chaos: api.port, 'chaos-default': plain.port, serve: serving?.port ?? 0 })
    const port = api.port
    const made = await request(port, {
      kind: 'http',
      why: 'setup',
      match: '',
      method: 'POST',
      path: '/proxies',
      body: { name: 'hostile', upstream: '127.0.0.1:1' },
    })
    expect(made.status).toBe(201)
  })
  afterAll(async () => {
    await Promise.all([api?.close(), plain?.close(), serving?.close()])
    await server?.stop()
    closeOwnedRun()
  })

  for (const entry of httpEntries) {
    test(`${entry.api ?? 'chaos'} ${entry.method} ${entry.path}: ${entry.why}`, async () => {
      const reply = await request(ports[entry.api ?? 'chaos'], entry)
      expect(reply.status, reply.body.slice(0, 300)).toBe(entry.status ?? 400)
      // the chaos API's errors are Toxiproxy's {"error","status"}, pgrig serve's IntegreSQL's {"message"}
      const body = JSON.parse(reply.body) as { error?: string; status?: number; message?: string }
      if (entry.api !== 'serve') expect(body.status).toBe(entry.status ?? 400)
      const message = entry.api === 'serve' ? body.message : body.error
      expect(message).not.toMatch(/\n/)
      expect(message).toMatch(new RegExp(entry.match))
    })
  }
})

afterAll(async () => {
  try {
    await nothingLeft()
  } finally {
    cleanUp()
  }
})

async function nothingLeft(): Promise<void> {
  // Nothing left running and no run folder: every entry failed before a server started, or cleaned up.
  const left = fs.existsSync(runRoot)
    ? fs.readdirSync(runRoot).flatMap((d) => fs.readdirSync(path.join(runRoot, d)).map((r) => `${d}/${r}`))
    : []
  expect(left).toEqual([])
  const ps = await new Promise<string>((resolve) =>
    execFile('ps', ['-eo', 'args'], (_e, stdout) => resolve(stdout)),
  )
  expect(ps.split('\n').filter((line) => line.includes(runRoot) || line.includes(scratch))).toEqual([])
}
