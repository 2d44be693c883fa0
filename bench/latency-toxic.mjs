/**
 * Latency toxic accuracy: a line round trip (connect, write "omg\n", read it back from an echo
 * server), as Toxiproxy's Ruby client measures it, through pgrig's proxy with latency toxics,
 * beside the same round trip with no toxic (the floor). Prints the median, p95 and max of each,
 * and how far the median is from the floor plus the requested delay (target ±2 ms on a quiet
 * machine). Then runs the Ruby client's latency tests (test/fixtures/toxiproxy-ruby, ±10 ms)
 * 10 times against `pgrig chaos serve` and counts the runs that pass.
 *
 * Run: `npm run bench:latency` (builds dist/ first); `--runs N` round trips per row (default 30).
 */
import { spawn, spawnSync } from 'node:child_process'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createProxy } from '../dist/chaos/index.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const at = process.argv.indexOf('--runs')
const RUNS = at >= 0 ? Number(process.argv[at + 1]) : 30

const echo = net.createServer((s) => s.on('data', (d) => s.write(d))).listen(0, '127.0.0.1')
await new Promise((r) => echo.once('listening', r))
const proxy = await createProxy({
  upstream: `localhost:${echo.address().port}`,
  mode: 'tcp',
  listen: 'localhost:0',
})
const [host, port] = [
  proxy.listen.slice(0, proxy.listen.lastIndexOf(':')),
  Number(proxy.listen.split(':').pop()),
]

async function roundTrip() {
  const before = performance.now()
  const socket = net.connect(port, host)
  await new Promise((r) => socket.once('connect', r))
  socket.write('omg\n')
  await new Promise((r) => socket.once('data', r))
  const ms = performance.now() - before
  socket.destroy()
  return ms
}

const latency = (name, stream, ms) => ({ name, type: 'latency', stream, attributes: { latency: ms } })
const rows = [
  ['no toxic (floor)', 0, []],
  ['latency 10 ms upstream', 10, [latency('a', 'upstream', 10)]],
  ['latency 100 ms upstream', 100, [latency('a', 'upstream', 100)]],
  ['latency 100 ms downstream', 100, [latency('a', 'downstream', 100)]],
  ['two latencies of 100 ms, upstream', 200, [latency('a', 'upstream', 100), latency('b', 'upstream', 100)]],
]
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]
console.log(
  `load average before: ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}; ${RUNS} round trips per row\n`,
)
console.log('| path | requested ms | median ms | p95 ms | max ms | median − floor − requested |')
console.log('| --- | ---: | ---: | ---: | ---: | ---: |')
let floor = 0
for (const [label, requested, toxics] of rows) {
  for (const t of toxics) proxy.addToxic(t)
  const times = []
  for (let i = 0; i < RUNS; i++) times.push(await roundTrip())
  for (const t of toxics) proxy.removeToxic(t.name)
  const median = pct(times, 0.5)
  if (requested === 0) floor = median
  const error = requested === 0 ? '' : `${(median - floor - requested).toFixed(2)}`
  console.log(
    `| ${label} | ${requested} | ${median.toFixed(2)} | ${pct(times, 0.95).toFixed(2)} | ${Math.max(...times).toFixed(2)} | ${error} |`,
  )
}
await proxy.close()
echo.close()

// The Ruby client's own latency tests (their ±10 ms), against the CLI's API as a user runs it.
const ruby = spawnSync('ruby', ['--version'], { encoding: 'utf8' })
if (ruby.status !== 0) {
  console.log('\nruby not found: the Ruby client runs are skipped')
} else {
  const serve = spawn(
    process.execPath,
    [path.join(ROOT, 'dist/cli/main.js'), 'chaos', 'serve', '--port', '0'],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  const api = await new Promise((resolve) => {
    let out = ''
    serve.stdout.on('data', (c) => {
      out += c
      const found = /http:\/\/\S+/.exec(out)
      if (found) resolve(found[0])
    })
  })
  let passed = 0
  const measured = []
  for (let i = 0; i < 10; i++) {
    const run = spawnSync('ruby', [path.join(ROOT, 'test/fixtures/toxiproxy-ruby/latency_test.rb')], {
      env: { ...process.env, TOXIPROXY_URL: api },
      encoding: 'utf8',
    })
    if (run.status === 0) passed++
    measured.push(...[...run.stdout.matchAll(/: ([\d.]+) ms/g)].map((m) => Number(m[1])))
  }
  serve.kill()
  console.log(
    `\nRuby client's latency tests (±10 ms): ${passed} of 10 runs passed; measured ${measured.join(', ')} ms`,
  )
}
console.log(
  `load average after: ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
)
