import { registerToxic } from '../toxic.js'

/** Delays each chunk by `latency` ms ± `jitter` ms, counted from when the chunk arrived. */
registerToxic({
  type: 'latency',
  defaults: { latency: 0, jitter: 0 },
  async pipe(chunk, stub) {
    const { latency = 0, jitter = 0 } = stub.attributes
    const delay = latency + (jitter ? (Math.random() * 2 - 1) * jitter : 0)
    // An absolute deadline from the chunk's arrival: time already spent queued behind earlier
    // chunks (or in the toxics before this one) counts, so a stream is not slowed twice.
    const due = stub.arrivedAt + delay
    await stub.sleep(due - performance.now())
    // the next toxic counts from the deadline, not from when this timer happened to fire
    await stub.forward(chunk, due)
  },
})
