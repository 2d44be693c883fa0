import { once } from 'node:events'
import net, { type AddressInfo } from 'node:net'
import { afterEach, expect, test } from 'vitest'
import { createProxy, type ChaosProxy } from './proxy.js'

const closing: (() => Promise<unknown> | void)[] = []
afterEach(async () => {
  await Promise.all(closing.splice(0).map((close) => close()))
})

async function echoProxy(): Promise<ChaosProxy> {
  const echo = net.createServer((s) => s.on('data', (d) => s.write(d))).listen(0, '127.0.0.1')
  await once(echo, 'listening')
  closing.push(() => void echo.close())
  const port = (echo.address() as AddressInfo).port
  const proxy = await createProxy({ upstream: { host: '127.0.0.1', port }, protocol: 'tcp' })
  closing.push(() => proxy.close())
  return proxy
}

/** Connects, then times a line's round trip from its write to its echo; `during` runs right after the write. */
async function roundTrip(proxy: ChaosProxy, during?: () => void): Promise<number> {
  const socket = net.connect(proxy.port, '127.0.0.1')
  closing.push(() => void socket.destroy())
  await once(socket, 'connect')
  const start = performance.now()
  socket.write('omg\n')
  during?.()
  await once(socket, 'data')
  return performance.now() - start
}

/** Keeps the event loop busy from `at` ms to `until` ms after now: every timer due meanwhile fires late. */
function blockLoop(at: number, until: number): void {
  const start = performance.now()
  setTimeout(() => {
    while (performance.now() - start < until) {
      // busy: no timer, no socket read
    }
  }, at)
}

test('chained latency toxics keep their deadlines: a late timer in the first is not paid again in the second', async () => {
  const proxy = await echoProxy()
  proxy.addToxic({ name: 'a', type: 'latency', stream: 'upstream', attributes: { latency: 50 } })
  proxy.addToxic({ name: 'b', type: 'latency', stream: 'upstream', attributes: { latency: 50 } })
  await roundTrip(proxy) // the first connection of a process pays for code that runs first
  // The first toxic's timer (due at 50 ms) fires at 80 ms. Its chunk is still due out of the
  // second toxic at 100 ms; counting the second's 50 ms from 80 ms would give 130 ms.
  const ms = await roundTrip(proxy, () => blockLoop(40, 80))
  expect(ms).toBeGreaterThanOrEqual(99)
  expect(ms).toBeLessThan(115)
})
