import net from 'node:net'
import { PgrigError, type PgrigErrorCode } from '../errors.js'
import { readLines, type BrokerReply, type BrokerRequest } from './broker.js'
import type { Lease, PoolStats } from './clone-pool.js'

interface Pending {
  resolve: (value: unknown) => void
  reject: (error: Error) => void
}

/** A worker's handle on the broker: one connection, opened on first use and reused across tests. */
export class BrokerClient {
  private socket: net.Socket | undefined
  private readonly pending = new Map<number, Pending>()
  private nextId = 1

  constructor(readonly socketPath: string) {}

  acquire(): Promise<Lease> {
    return this.call<Lease>('/acquire')
  }

  async release(name: string, options: { keep?: boolean } = {}): Promise<void> {
    await this.call('/release', { name, keep: options.keep === true })
  }

  workerDatabase(key: string, options: { fresh?: boolean } = {}): Promise<Lease> {
    return this.call<Lease>('/worker', { key, fresh: options.fresh === true })
  }

  /** A route added by an integration (see BrokerRoutes). */
  post<T>(path: string, input: Record<string, unknown> = {}): Promise<T> {
    return this.call<T>(path, input)
  }

  stats(): Promise<PoolStats> {
    return this.call<PoolStats>('/stats')
  }

  close(): void {
    this.socket?.destroy()
    this.socket = undefined
  }

  private connection(): net.Socket {
    if (this.socket && !this.socket.destroyed) return this.socket
    const socket = net.connect(this.socketPath)
    socket.setNoDelay(true)
    readLines(socket, (line) => {
      const reply = JSON.parse(line) as BrokerReply
      const waiting = this.pending.get(reply.id)
      if (!waiting) return
      this.pending.delete(reply.id)
      this.holdOpen()
      if (reply.ok) waiting.resolve(reply.value)
      else waiting.reject(relayed(reply.code, reply.message))
    })
    const fail = (error?: NodeJS.ErrnoException) => {
      if (this.socket === socket) this.socket = undefined
      const reason = error?.code ?? error?.message ?? 'connection closed'
      for (const [id, waiting] of this.pending) {
        this.pending.delete(id)
        waiting.reject(
          new PgrigError(
            'E_BROKER',
            `cannot reach the pgrig database broker at ${this.socketPath} (${reason}); the test run's main process (globalSetup) must be running`,
          ),
        )
      }
    }
    socket.on('error', fail)
    socket.on('close', () => fail())
    this.socket = socket
    return socket
  }

  /** The connection keeps a worker alive only while an answer is awaited. */
  private holdOpen(): void {
    if (this.pending.size > 0) this.socket?.ref()
    else this.socket?.unref()
  }

  private call<T>(route: string, input?: Record<string, unknown>): Promise<T> {
    const socket = this.connection()
    const request: BrokerRequest = { id: this.nextId++, route, ...(input ? { input } : {}) }
    return new Promise<T>((resolve, reject) => {
      this.pending.set(request.id, { resolve: resolve as (value: unknown) => void, reject })
      this.holdOpen()
      socket.write(`${JSON.stringify(request)}\n`)
    })
  }
}

/** An error the main process answered with: its stack here would only point at this socket reader. */
function relayed(code: string, message: string): PgrigError {
  const error = new PgrigError(code as PgrigErrorCode, message)
  error.stack = `${error.name}: ${message}`
  return error
}
