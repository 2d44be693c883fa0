import http from 'node:http'
import net from 'node:net'
import { chromium, type Browser } from 'playwright-core'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { serveToxiproxyApi, type ToxiproxyApi } from '../src/chaos/proxy/http-api.js'
import { startServe, type Serving } from '../src/serve/serve.js'
import { startServer, type StartedServer } from '../src/servers/start-server.js'
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './support/chromium.js'
import { privateRunRoot } from './support/run-root.js'

/**
 * Issue 21: a web page open in a browser on this machine tries to drive both APIs, by every
 * request a page may send to another origin without asking first (no-cors fetches of text/plain,
 * form and untyped bodies, a beacon, real <form method=post> submits) and by a CORS fetch of JSON;
 * nothing may be done. A rebinding page's Host cannot be faked from a browser: src/http-guard.test.ts
 * sends it directly.
 */

privateRunRoot('browser-refusal')

let pgc: StartedServer
let serving: Serving
let chaos: ToxiproxyApi
let page: http.Server
let browser: Browser
/** A free loopback port a created proxy would listen on. */
let target = 0

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo
      probe.close(() => resolve(port))
    })
  })
}

function pageHtml(): string {
  const proxy = JSON.stringify({
    name: 'from_page',
    upstream: `127.0.0.1:${pgc.port}`,
    listen: `127.0.0.1:${target}`,
  })
  const template = JSON.stringify({ hash: 'from-page' })
  const writes = [
    { url: `${chaos.url}/proxies`, body: proxy },
    { url: `${chaos.url}/populate`, body: `[${proxy}]` },
    { url: `${serving.baseUrl}/v1/templates`, body: template },
  ]
  // A text/plain form's body is name=value: the name carries the JSON up to a string the value closes.
  const forms = writes
    .map(({ url, body }, i) => {
      const [name, value] = [body.slice(0, -2) + ',"x":"', '"' + body.slice(-2)]
      const attr = (s: string) => s.replaceAll('&', '&amp;').replaceAll('"', '&quot;')
      return [
        `<iframe name="sink${i}"></iframe>`,
        `<form id="plain${i}" method="post" enctype="text/plain" action="${url}" target="sink${i}">`,
        `<input name="${attr(name)}" value="${attr(value)}"></form>`,
        `<iframe name="sinkf${i}"></iframe>`,
        `<form id="urlenc${i}" method="post" action="${url}" target="sinkf${i}">`,
        `<input name="${attr(body)}" value=""></form>`,
      ].join('\n')
    })
    .join('\n')
  return `<!doctype html><html><body>${forms}
<script>
const writes = ${JSON.stringify(writes)}
const reads = ${JSON.stringify([`${chaos.url}/proxies`, `${serving.baseUrl}/v1/templates/from-page/tests`])}
window.attempts = (async () => {
  const tries = []
  // bounded: before the fix a page's GET of its own template waited for it to be finalized
  const signal = AbortSignal.timeout(5000)
  for (const { url, body } of writes) {
    tries.push(fetch(url, { method: 'POST', mode: 'no-cors', body, signal }))
    tries.push(fetch(url, { method: 'POST', mode: 'no-cors', body: new Blob([body]), signal }))
    tries.push(fetch(url, { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body, signal }))
    tries.push(fetch(url, { method: 'POST', mode: 'cors', headers: { 'Content-Type': 'application/json' }, body, signal }))
    navigator.sendBeacon(url, body)
  }
  for (const url of reads) tries.push(fetch(url, { mode: 'cors', signal }))
  const settled = await Promise.allSettled(tries)
  return settled.map((s) => s.status === 'fulfilled' ? s.value.type + ':' + s.value.status : 'rejected')
})()
window.submitForms = () => { for (const form of document.forms) form.submit() }
</script></body></html>`
}

beforeAll(async () => {
  pgc = await startServer({ name: 'browser-refusal', quiet: true })
  ;[serving, chaos, target, browser] = await Promise.all([
    startServe({ server: pgc.info, port: 0, poolSize: 0, poolMax: 2 }),
    serveToxiproxyApi({ port: 0 }),
    freePort(),
    chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS }),
  ])
  // The page's own origin: another loopback port.
  page = http.createServer((_request, response) => {
    response.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(pageHtml())
  })
  await new Promise<void>((resolve) => page.listen(0, '127.0.0.1', resolve))
})
afterAll(async () => {
  await browser?.close()
  page?.close()
  await Promise.all([serving?.close(), chaos?.close()])
  await pgc?.stop()
})

test('a page on another origin gets nothing done on either API: no proxy, no listener, no template, no database', async () => {
  const tab = await browser.newPage()
  const answers: { method: string; url: string; status: number }[] = []
  const apiPorts = [serving.port, chaos.port].map(String)
  tab.on('response', (response) => {
    const url = new URL(response.url())
    if (apiPorts.includes(url.port))
      answers.push({ method: response.request().method(), url: url.pathname, status: response.status() })
  })
  await tab.goto(`http://127.0.0.1:${(page.address() as net.AddressInfo).port}/`)
  const outcomes = await tab.evaluate(() => (window as unknown as { attempts: Promise<string[]> }).attempts)
  // no-cors answers are opaque to the page, CORS ones fail: nothing a page can read
  expect(outcomes.filter((o) => !/^opaque:0$|^rejected$/.test(o))).toEqual([])
  await tab.evaluate(() => (window as unknown as { submitForms: () => void }).submitForms())
  // every form's answer arrived (6 of them), each a refusal
  await expect
    .poll(() => answers.filter((a) => a.method === 'POST').length, { timeout: 20_000 })
    .toBeGreaterThanOrEqual(6 + 9)
  await tab.waitForLoadState('networkidle')
  await tab.close()

  // The requests reached the APIs and were refused, none answered with success.
  expect(answers.length).toBeGreaterThan(0)
  expect(answers.filter((a) => a.status !== 403)).toEqual([])
  // Nothing was done.
  expect(chaos.proxies.size).toBe(0)
  const connected = await new Promise<boolean>((resolve) => {
    const socket = net.connect(target, '127.0.0.1', () => (socket.destroy(), resolve(true)))
    socket.on('error', () => resolve(false))
  })
  expect(connected, `nothing listens on ${target}`).toBe(false)
  expect(serving.stats()).toEqual([])
  const template = await fetch(`${serving.baseUrl}/v1/templates/from-page/tests`)
  expect(template.status, 'no template from-page').toBe(404)
})
