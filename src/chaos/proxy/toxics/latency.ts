import { registerToxic } from '../toxic.js'

/** Delays each chunk by `latency` ms ± `jitter` ms, counted from when the chunk arrived. */
registerToxic({
  type: 'latency',
  defaults: { latency: 0, jitter: 0 },
  async pipe(chunk, stub) {
    const { latency = 0, jitter = 0 } = stub.attributes
    const delay = latency + (jitter ? (Math.random() * 2 - 1) * jitter : 0)
    // time already spent queued behind earlier chunks counts, so a stream is not slowed twice
    await stub.sleep(delay - (performance.now() - stub.arrivedAt))
    await stub.forward(chunk)
  },
})
