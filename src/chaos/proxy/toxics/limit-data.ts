import { registerToxic } from '../toxic.js'

/** Closes the connection once `bytes` bytes have passed in this direction. */
registerToxic({
  type: 'limit_data',
  defaults: { bytes: 0 },
  async pipe(chunk, stub) {
    const limit = stub.attributes.bytes ?? 0
    const sent = stub.state.sent ?? 0
    if (limit <= 0) return stub.forward(chunk)
    const allowed = Math.max(0, limit - sent)
    if (allowed > 0) await stub.forward(allowed >= chunk.length ? chunk : chunk.subarray(0, allowed))
    stub.state.sent = sent + Math.min(allowed, chunk.length)
    if (stub.state.sent >= limit) stub.close('end')
  },
})
