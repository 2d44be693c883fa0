import type { Duplex } from 'node:stream'

const corkedStreams = new WeakSet<Duplex>()

/** Writes made in one turn of the event loop leave as one packet, not one per message. */
export function corked(stream: Duplex): void {
  if (corkedStreams.has(stream)) return
  corkedStreams.add(stream)
  stream.cork()
  // After the promise jobs of this turn, so a whole unit read from one chunk goes out together.
  setImmediate(() => {
    corkedStreams.delete(stream)
    stream.uncork()
  })
}
