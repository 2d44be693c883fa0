import http from 'node:http'
import { PgrigError, type PgrigErrorCode } from '../errors.js'
import type { Lease, PoolStats } from './clone-pool.js'

/** A worker's handle on the broker; one keep-alive connection, reused across tests. */
export class BrokerClient {
  // Free keep-alive sockets are unref'd by node:http, so an idle client never holds a worker open.
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 4 })

  constructor(readonly socketPath: string) {}

  acquire(): Promise<Lease> {
    return this.call<Lease>('POST', '/acquire')
  }

  async release(name: string, options: { keep?: boolean } = {}): Promise<void> {
    await this.call('POST', '/release', { name, keep: options.keep === true })
  }

  workerDatabase(key: string): Promise<Lease> {
    return this.call<Lease>('POST', '/worker', { key })
  }

  /** A route added by an integration (see BrokerRoutes). */
  post<T>(path: string, input: Record<string, unknown> = {}): Promise<T> {
    return this.call<T>('POST', path, input)
  }

  stats(): Promise<PoolStats> {
    return this.call<PoolStats>('GET', '/stats')
  }

  close(): void {
    this.agent.destroy()
  }

  private call<T>(method: string, path: string, input?: unknown): Promise<T> {
    const payload = input === undefined ? '' : JSON.stringify(input)
    return new Promise<T>((resolve, reject) => {
      const req = http.request(
        {
          socketPath: this.socketPath,
          path,
          method,
          agent: this.agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (res) => {
          let text = ''
          res.setEncoding('utf8')
          res.on('data', (chunk: string) => (text += chunk))
          res.on('end', () => {
            try {
              const value = JSON.parse(text) as T & { code?: PgrigErrorCode; message?: string }
              if (res.statusCode === 200) resolve(value)
              else
                reject(
                  new PgrigError(
                    value.code ?? 'E_BROKER',
                    value.message ?? `broker answered ${res.statusCode}`,
                  ),
                )
            } catch (error) {
              reject(error as Error)
            }
          })
        },
      )
      req.on('error', (error: NodeJS.ErrnoException) =>
        reject(
          new PgrigError(
            'E_BROKER',
            `cannot reach the pgrig database broker at ${this.socketPath} (${error.code ?? error.message}); the test run's main process (globalSetup) must be running`,
          ),
        ),
      )
      req.end(payload)
    })
  }
}
