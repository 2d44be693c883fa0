import type net from 'node:net'

/**
 * Reads until `enough` says so; the socket is left paused. The caller unshifts what it does not
 * consume, so whoever reads next (a Link, or a TLSSocket, which takes buffered bytes in) sees it.
 */
export function readUntil(socket: net.Socket, enough: (bytes: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let got: Buffer = Buffer.alloc(0)
    const onData = (chunk: Buffer) => {
      got = got.length ? Buffer.concat([got, chunk]) : chunk
      if (!enough(got)) return
      done()
      resolve(got)
    }
    const onGone = () => {
      done()
      reject(new Error('the connection closed before it sent enough'))
    }
    const done = () => {
      socket.pause()
      socket.off('data', onData)
      socket.off('end', onGone)
      socket.off('close', onGone)
    }
    socket.on('data', onData)
    socket.on('end', onGone)
    socket.on('close', onGone)
    socket.resume()
  })
}
