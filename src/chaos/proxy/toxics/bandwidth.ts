import { registerToxic } from '../toxic.js'

/** Limits throughput to `rate` KB/s (0 = unlimited), in 100 ms slices like Toxiproxy. */
registerToxic({
  type: 'bandwidth',
  defaults: { rate: 0 },
  async pipe(chunk, stub) {
    const rate = stub.attributes.rate ?? 0
    if (rate <= 0) return stub.forward(chunk)
    const slice = Math.max(1, Math.floor(rate * 100))
    for (let at = 0; at < chunk.length && !stub.signal.aborted; at += slice) {
      const part = chunk.subarray(at, at + slice)
      await stub.forward(part)
      await stub.sleep(part.length / rate)
    }
  },
})
