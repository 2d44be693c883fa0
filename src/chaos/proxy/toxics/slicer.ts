import { registerToxic } from '../toxic.js'

/** Cuts chunks into pieces of `average_size` ± `size_variation` bytes, `delay` µs apart. */
registerToxic({
  type: 'slicer',
  defaults: { average_size: 0, size_variation: 0, delay: 0 },
  async pipe(chunk, stub) {
    const { average_size: average = 0, size_variation: variation = 0, delay = 0 } = stub.attributes
    if (average <= 0) return stub.forward(chunk)
    let at = 0
    while (at < chunk.length && !stub.signal.aborted) {
      const size = Math.max(1, Math.round(average + (Math.random() * 2 - 1) * variation))
      await stub.forward(chunk.subarray(at, at + size))
      at += size
      if (delay > 0 && at < chunk.length) await stub.sleep(delay / 1000)
    }
  },
})
