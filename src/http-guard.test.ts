import http from 'node:http'
import net from 'node:net'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { serveToxiproxyApi, type ToxiproxyApi } from './chaos/proxy/http-api.js'
import { startServe, type Serving } from './serve/serve.js'
import { startServer, type StartedServer } from './servers/start-server.js'
import { privateRunRoot } from '../test/support/run-root.js'

/**
 * Both HTTP APIs refuse what a web page in a browser could send them (issue 21): sent here as raw
 * HTTP, headers and all, since a browser cannot fake a Host (DNS rebinding sends the page's own
 * name); test/browser-refusal.test.ts drives the same from a real Chromium.
 */

privateRunRoot('http-guard')

let pgc: StartedServer
let serving: Serving
let chaos: ToxiproxyApi

beforeAll(async () => {
  pgc = await startServer({ name: 'http-guard', quiet: true })
  ;[serving, chaos] = await Promise.all([
    startServe({ server: pgc.info, port: 0, poolSize: 1, poolMax: 2 }),
    serveToxiproxyApi({ port: 0 }),
  ])
})
afterAll(async () => {
  await Promise.all([serving?.close(), chaos?.close()])
  await pgc?.stop()
})

interface Sent {
  method?: string
  path: string
  headers?: Record<string, string>
  body?: string
  /** false: no Host header at all (HTTP/1.0 clients). */
  setHost?: boolean
}

function send(port: number, { method = 'GET', path, headers = {}, body, setHost = true }: Sent) {
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    const request = http.request(
      { host: '127.0.0.1', port, method, path, headers, setHost, agent: false },
      (response) => {
        let text = ''
        response.setEncoding('utf8')
        response.on('data', (chunk: string) => (text += chunk))
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text }))
      },
    )
    request.on('error', reject)
    request.end(body)
  })
}

const CHROME =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36'

const apis = () => [
  {
    api: 'pgrig serve',
    port: serving.port,
    read: '/api/v1/templates/none/tests',
    write: { path: '/api/v1/templates', body: '{"hash":"from-a-page"}' },
    // what each refused write would have done
    done: async () =>
      (await send(serving.port, { path: '/api/v1/templates/from-a-page/tests' })).status !== 404,
    message: (text: string) => (JSON.parse(text) as { message: string }).message,
  },
  {
    api: 'pgrig chaos serve',
    port: chaos.port,
    read: '/proxies',
    write: {
      path: '/proxies',
      body: '{"name":"csrf","upstream":"127.0.0.1:1","listen":"127.0.0.1:0"}',
    },
    done: () => Promise.resolve(chaos.proxies.size > 0),
    message: (text: string) => {
      const body = JSON.parse(text) as { error: string; status: number }
      expect(body.status).toBe(403)
      return body.error
    },
  },
]

describe.each(['pgrig serve', 'pgrig chaos serve'])('%s refuses', (name) => {
  const target = () => apis().find((a) => a.api === name)!
  const refusals: [string, (port: number) => Sent, RegExp][] = [
    [
      'a browser user agent',
      () => ({ path: '', headers: { 'User-Agent': CHROME } }),
      /user agent .* browser's/,
    ],
    [
      "another origin's request",
      () => ({ path: '', headers: { Origin: 'http://evil.example' } }),
      /web page "http:\/\/evil\.example" \(Origin header\)/,
    ],
    [
      'an Origin of null (a sandboxed page)',
      () => ({ path: '', headers: { Origin: 'null' } }),
      /Origin header/,
    ],
    [
      'a Host by a name that is not loopback (DNS rebinding)',
      (port) => ({ path: '', headers: { Host: `evil.example:${port}` } }),
      /Host "evil\.example:\d+" is not the address this API listens on \(127\.0\.0\.1:\d+\)/,
    ],
    [
      'a Host with another port',
      (port) => ({ path: '', headers: { Host: `127.0.0.1:${port + 1}` } }),
      /is not the address this API listens on/,
    ],
    [
      'a Host of another address',
      (port) => ({ path: '', headers: { Host: `10.1.2.3:${port}` } }),
      /is not the address this API listens on/,
    ],
    [
      'a cross-site fetch (Sec-Fetch-Site)',
      () => ({ path: '', headers: { 'Sec-Fetch-Site': 'cross-site' } }),
      /cross-site browser request/,
    ],
  ]
  test.each(refusals)('%s: 403 with one line saying what and why', async (_what, request, reason) => {
    const { port, read, message } = target()
    const reply = await send(port, { ...request(port), path: read })
    expect(reply.status, reply.text).toBe(403)
    expect(reply.text.trimEnd()).not.toMatch(/\n/)
    expect(message(reply.text)).toMatch(reason)
    expect(reply.text, 'no credentials in a refusal').not.toMatch(/password/)
  })

  test.each([
    [
      'text/plain from a browser (no preflight)',
      { 'User-Agent': CHROME, 'Content-Type': 'text/plain' },
      /browser's/,
    ],
    [
      'a form post from another origin',
      {
        'User-Agent': CHROME,
        Origin: 'http://127.0.0.1:1',
        'Content-Type': 'application/x-www-form-urlencoded',
      },
      /browser's/,
    ],
    ['a multipart/form-data body', { 'Content-Type': 'multipart/form-data; boundary=x' }, /takes JSON only/],
    ['an XML body', { 'Content-Type': 'application/xml' }, /takes JSON only/],
  ])('a write of %s: 403, and nothing is done', async (_what, headers, reason) => {
    const { port, write, done, message } = target()
    const reply = await send(port, { method: 'POST', ...write, headers })
    expect(reply.status, reply.text).toBe(403)
    expect(message(reply.text)).toMatch(reason)
    expect(await done()).toBe(false)
  })
})

describe.each(['pgrig serve', 'pgrig chaos serve'])('%s still answers', (name) => {
  const target = () => apis().find((a) => a.api === name)!
  test.each([
    ['curl', { 'User-Agent': 'curl/7.88.1', Accept: '*/*' }],
    ['Host localhost', { Host: 'localhost:PORT' }],
    ['Host 127.0.0.1 with its port', { Host: '127.0.0.1:PORT' }],
    ['its own Origin', { Origin: 'http://127.0.0.1:PORT', 'User-Agent': 'python-requests/2.28.1' }],
    ['Go net/http', { 'User-Agent': 'Go-http-client/1.1' }],
    ["Node's fetch", { 'User-Agent': 'node', 'Sec-Fetch-Mode': 'cors' }],
  ])('%s', async (_what, headers) => {
    const { port, read } = target()
    const filled = Object.fromEntries(
      Object.entries(headers).map(([k, v]) => [k, v.replace('PORT', String(port))]),
    )
    const reply = await send(port, { path: read, headers: filled })
    expect(reply.status, reply.text).not.toBe(403)
  })

  test('no Host header at all (HTTP/1.0)', async () => {
    const { port, read } = target()
    expect((await send(port, { path: read, setHost: false })).status).not.toBe(403)
  })
})

test("the chaos write labels clients put on JSON are taken: curl -d's form type, fetch's text/plain", async () => {
  for (const [i, type] of [
    'application/x-www-form-urlencoded',
    'text/plain;charset=UTF-8',
    'application/json',
  ].entries()) {
    const reply = await send(chaos.port, {
      method: 'POST',
      path: '/proxies',
      headers: { 'Content-Type': type },
      body: JSON.stringify({ name: `label${i}`, upstream: '127.0.0.1:1', listen: '127.0.0.1:0' }),
    })
    expect(reply.status, reply.text).toBe(201)
  }
  for (let i = 0; i < 3; i++) await send(chaos.port, { method: 'DELETE', path: `/proxies/label${i}` })
})

test("the issue's requests: a browser's text/plain proxy on 0.0.0.0, a rebinding page's read of a password", async () => {
  const csrf = await send(chaos.port, {
    method: 'POST',
    path: '/proxies',
    headers: { 'User-Agent': 'Mozilla/5.0', Origin: 'http://evil.example', 'Content-Type': 'text/plain' },
    body: '{"name":"csrf","upstream":"127.0.0.1:5310","listen":"0.0.0.0:0"}',
  })
  expect(csrf.status).toBe(403)
  expect(chaos.proxies.size).toBe(0)
  const rebound = await send(serving.port, {
    path: '/api/v1/templates/any/tests',
    headers: { Host: `evil.example:${serving.port}`, 'User-Agent': 'Mozilla/5.0' },
  })
  expect(rebound.status).toBe(403)
  expect(rebound.text).not.toMatch(/password/)
})

/** A client that sends its whole body before it reads the answer, as Python's requests does. */
function sendLarge(port: number, path: string, bytes: number) {
  return new Promise<number>((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.on('error', reject)
    socket.pause()
    const head = `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${bytes}\r\n\r\n`
    const chunk = Buffer.alloc(1024 * 1024, 'x')
    let sent = 0
    const pump = () => {
      while (sent < bytes) {
        const piece = chunk.subarray(0, Math.min(chunk.length, bytes - sent))
        sent += piece.length
        if (!socket.write(piece)) return void socket.once('drain', pump)
      }
      // Only now read what came back.
      let text = ''
      socket.setEncoding('latin1')
      socket.on('data', (data: string) => {
        text += data
        const status = /^HTTP\/1\.1 (\d{3})/.exec(text)
        if (status) {
          socket.destroy()
          resolve(Number(status[1]))
        }
      })
      socket.resume()
    }
    socket.write(head)
    pump()
  })
}

test.each([
  ['pgrig chaos serve', () => chaos.port, '/proxies'],
  ['pgrig serve', () => serving.port, '/api/v1/templates'],
])(
  '%s: a 100 MB body gets 413, not a reset connection, from a client that sends it all first',
  async (_api, port, path) => {
    expect(await sendLarge(port(), path, 100 * 1024 * 1024)).toBe(413)
  },
)

test('--allow-host names (a compose service, a fleet DNS name) reach the API; other names stay refused', async () => {
  await using named = await serveToxiproxyApi({ port: 0, allowedHosts: ['integresql', 'Serve.CI.internal.'] })
  const status = async (host: string) =>
    (await send(named.port, { path: '/proxies', headers: { Host: host } })).status
  expect(await status(`integresql:${named.port}`)).toBe(200)
  expect(await status(`serve.ci.internal:${named.port}`)).toBe(200)
  expect(await status(`integresql:${named.port + 1}`)).toBe(403)
  expect(await status(`evil.example:${named.port}`)).toBe(403)
  const origin = await send(named.port, {
    path: '/proxies',
    headers: { Host: `integresql:${named.port}`, Origin: `http://integresql:${named.port}` },
  })
  expect(origin.status).toBe(200)
})
