import fs from 'node:fs'
import net from 'node:net'
import { isPgrigError } from '../errors.js'
import type { ClonePool } from './clone-pool.js'

/**
 * The pool lives in the test runner's main process; workers (forks, threads, Jest workers) come
 * and go and reach it over a unix socket, one JSON object per line each way:
 *
 *   → {"id": 1, "route": "/acquire", "input": {}}
 *   ← {"id": 1, "ok": true, "value": Lease}      or  {"id": 1, "ok": false, "code", "message"}
 *
 *   /acquire                 → Lease
 *   /release {name, keep?}   → {}
 *   /worker {key, fresh?}    → Lease (one long-lived database per worker slot; fresh: a new one)
 *   /stats                   → PoolStats
 *
 * JSON lines rather than HTTP: a node:http round trip cost ~1 ms on the 2-core CI machine, which
 * is the whole acquire budget; a line each way costs a fraction of that. Try it by hand with
 * `echo '{"id":1,"route":"/stats"}' | nc -U <socket>`.
 */
export interface Broker {
  socketPath: string
  close(): Promise<void>
}

/** Extra routes the integrations add (a companion service's per-test reset, say). */
export type BrokerRoutes = Record<string, (input: Record<string, unknown>) => Promise<unknown>>

export interface BrokerRequest {
  id: number
  route: string
  input?: Record<string, unknown>
}

export type BrokerReply =
  { id: number; ok: true; value: unknown } | { id: number; ok: false; code: string; message: string }

/** Calls `onLine` for every complete line arriving on `socket`. */
export function readLines(socket: net.Socket, onLine: (line: string) => void): void {
  let buffered = ''
  socket.setEncoding('utf8')
  socket.on('data', (chunk: string) => {
    buffered += chunk
    for (let end = buffered.indexOf('\n'); end >= 0; end = buffered.indexOf('\n')) {
      const line = buffered.slice(0, end)
      buffered = buffered.slice(end + 1)
      if (line) onLine(line)
    }
  })
}

export async function startBroker(
  pool: ClonePool,
  socketPath: string,
  routes: BrokerRoutes = {},
): Promise<Broker> {
  fs.rmSync(socketPath, { force: true })
  const handle = async (route: string, input: Record<string, unknown>): Promise<unknown> => {
    if (route === '/acquire') return pool.acquire()
    if (route === '/release') {
      pool.release(String(input.name), { keep: input.keep === true })
      return {}
    }
    if (route === '/worker') return pool.workerDatabase(String(input.key), { fresh: input.fresh === true })
    if (route === '/stats') return pool.stats()
    const extra = routes[route]
    if (extra) return (await extra(input)) ?? {}
    throw Object.assign(new Error(`no such broker route ${route}`), { code: 'E_BROKER' })
  }
  const sockets = new Set<net.Socket>()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    readLines(socket, (line) => {
      let request: BrokerRequest
      try {
        request = JSON.parse(line) as BrokerRequest
      } catch {
        socket.destroy()
        return
      }
      const send = (reply: BrokerReply) => {
        if (!socket.destroyed) socket.write(`${JSON.stringify(reply)}\n`)
      }
      handle(request.route, request.input ?? {}).then(
        (value) => send({ id: request.id, ok: true, value }),
        (error: Error & { code?: string }) =>
          send({
            id: request.id,
            ok: false,
            code: isPgrigError(error) || error.code === 'E_BROKER' ? String(error.code) : 'E_BROKER',
            message: error.message,
          }),
      )
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(socketPath, () => resolve())
  })
  // Only this user's processes may lease databases.
  fs.chmodSync(socketPath, 0o600)
  return {
    socketPath,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        for (const socket of sockets) socket.destroy()
        fs.rmSync(socketPath, { force: true })
      }),
  }
}
