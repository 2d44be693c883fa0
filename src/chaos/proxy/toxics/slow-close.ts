import { registerToxic } from '../toxic.js'

/** Holds a close back for `delay` ms before passing it on. */
registerToxic({
  type: 'slow_close',
  defaults: { delay: 0 },
  async beforeClose(stub) {
    await new Promise((resolve) => setTimeout(resolve, stub.attributes.delay ?? 0))
  },
})
