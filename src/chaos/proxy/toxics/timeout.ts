import { registerToxic } from '../toxic.js'

/** Swallows all data; closes the connection after `timeout` ms (0 = never, until removed). */
registerToxic({
  type: 'timeout',
  defaults: { timeout: 0 },
  start(stub) {
    const ms = stub.attributes.timeout ?? 0
    if (ms > 0) void stub.sleep(ms).then(() => stub.signal.aborted || stub.close('end'))
  },
  pipe() {
    // dropped on purpose: the peer sees a connection that went silent
  },
})
