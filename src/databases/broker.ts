import fs from 'node:fs'
import http from 'node:http'
import { isPgrigError } from '../errors.js'
import type { ClonePool } from './clone-pool.js'

/**
 * The pool lives in the test runner's main process; workers (forks, threads, Jest workers) come
 * and go and reach it over HTTP on a unix socket. HTTP rather than hand-framed JSON lines: node:http
 * gives request/response pairing, status codes for errors and keep-alive for free in every worker
 * runtime, and a person can poke it with `curl --unix-socket`.
 *
 *   POST /acquire                 → Lease
 *   POST /release {name, keep?}   → {}
 *   POST /worker {key}            → Lease (one long-lived database per worker slot)
 *   GET  /stats                   → PoolStats
 */
export interface Broker {
  socketPath: string
  close(): Promise<void>
}

async function body(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  let text = ''
  for await (const chunk of req) text += String(chunk)
  return text ? (JSON.parse(text) as Record<string, unknown>) : {}
}

/** Extra routes the integrations add (a companion service's per-test reset, say). */
export type BrokerRoutes = Record<string, (input: Record<string, unknown>) => Promise<unknown>>

export async function startBroker(
  pool: ClonePool,
  socketPath: string,
  routes: BrokerRoutes = {},
): Promise<Broker> {
  fs.rmSync(socketPath, { force: true })
  const server = http.createServer(async (req, res) => {
    const reply = (status: number, value: unknown) => {
      const json = JSON.stringify(value)
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) })
      res.end(json)
    }
    try {
      const input = await body(req)
      if (req.url === '/acquire') return reply(200, await pool.acquire())
      if (req.url === '/release') {
        pool.release(String(input.name), { keep: input.keep === true })
        return reply(200, {})
      }
      if (req.url === '/worker') return reply(200, await pool.workerDatabase(String(input.key)))
      if (req.url === '/stats') return reply(200, pool.stats())
      const route = routes[req.url ?? '']
      if (route) return reply(200, (await route(input)) ?? {})
      reply(404, { code: 'E_BROKER', message: `no such broker route ${req.url}` })
    } catch (error) {
      const e = error as Error
      reply(500, { code: isPgrigError(e) ? e.code : 'E_BROKER', message: e.message })
    }
  })
  server.keepAliveTimeout = 60_000
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
        server.closeAllConnections()
        fs.rmSync(socketPath, { force: true })
      }),
  }
}
