import fs from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { CloneSessions, type CloneSessionsOptions, type CreateRequest } from './clone-sessions.js'

/** What the pool asks of its own sessions, wherever they run. */
export type PoolSessions = Pick<
  CloneSessions,
  'create' | 'drop' | 'connected' | 'prewarm' | 'end' | 'copyMethod'
>

/** One call to the sessions' thread and its answer. */
export type SessionsCall =
  | { id: number; op: 'create'; arg: CreateRequest }
  | { id: number; op: 'drop' | 'prewarm'; arg: string }
  | { id: number; op: 'connected'; arg: string[] }
  | { id: number; op: 'end'; arg?: undefined }
export interface SessionsAnswer {
  id: number
  value?: unknown
  error?: { message: string; code?: string }
  copyMethod: CloneSessions['copyMethod']
}

const WORKER = new URL('./clone-sessions-worker.js', import.meta.url)

/**
 * The pool's sessions on a thread of their own, or here when the sources run unbuilt (a
 * TypeScript loader's worker would not have it). Their socket writes and reads to the server,
 * hundreds a second while a fleet recreates databases, then never hold the thread that answers
 * checkouts: on a busy machine a write that wakes a backend can cost the writer its core.
 */
export function poolSessions(options: CloneSessionsOptions, ownThread: boolean): PoolSessions {
  if (!ownThread || !fs.existsSync(fileURLToPath(WORKER))) return new CloneSessions(options)
  return new ThreadedSessions(options)
}

class ThreadedSessions implements PoolSessions {
  private readonly worker: Worker
  private readonly calls = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: Error) => void }
  >()
  private nextId = 0
  private method: CloneSessions['copyMethod']
  private failure: Error | undefined
  private ended: Promise<void> | undefined

  constructor(options: CloneSessionsOptions) {
    this.worker = new Worker(WORKER, { workerData: options })
    // Only calls under way keep the process alive, as sockets of an idle pg.Pool do not.
    this.worker.unref()
    this.worker.on('message', (answer: SessionsAnswer) => {
      this.method = answer.copyMethod
      const call = this.calls.get(answer.id)
      if (!call) return
      this.calls.delete(answer.id)
      if (this.calls.size === 0) this.worker.unref()
      if (answer.error)
        call.reject(Object.assign(new Error(answer.error.message), { code: answer.error.code }))
      else call.resolve(answer.value)
    })
    const fail = (error: Error) => {
      this.failure ??= error
      for (const call of this.calls.values()) call.reject(error)
      this.calls.clear()
    }
    this.worker.on('error', fail)
    this.worker.on('exit', () => fail(new Error('the clone pool’s sessions thread has ended')))
  }

  get copyMethod(): CloneSessions['copyMethod'] {
    return this.method
  }

  create(request: CreateRequest): Promise<void> {
    return this.call({ op: 'create', arg: request }) as Promise<void>
  }

  drop(name: string): Promise<void> {
    return this.call({ op: 'drop', arg: name }) as Promise<void>
  }

  async connected(names: string[]): Promise<Set<string>> {
    return new Set((await this.call({ op: 'connected', arg: names })) as string[])
  }

  prewarm(name: string): Promise<boolean> {
    return this.call({ op: 'prewarm', arg: name }) as Promise<boolean>
  }

  end(): Promise<void> {
    this.ended ??= (async () => {
      await (this.call({ op: 'end' }) as Promise<void>).catch(() => {})
      await this.worker.terminate()
    })()
    return this.ended
  }

  private call(message: Omit<SessionsCall, 'id'>): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure)
    const id = ++this.nextId
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject })
      if (this.calls.size === 1) this.worker.ref()
      this.worker.postMessage({ ...message, id })
    })
  }
}
