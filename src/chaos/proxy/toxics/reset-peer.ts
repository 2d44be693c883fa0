import { registerToxic } from '../toxic.js'

/** Resets the connection (TCP RST, "connection reset by peer") after `timeout` ms. */
registerToxic({
  type: 'reset_peer',
  defaults: { timeout: 0 },
  start(stub) {
    void stub.sleep(stub.attributes.timeout ?? 0).then(() => stub.signal.aborted || stub.close('reset'))
  },
  pipe() {
    // data after the toxic started never arrives: the connection is about to be reset
  },
})
