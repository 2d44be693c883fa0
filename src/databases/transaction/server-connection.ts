import type { Duplex } from 'node:stream'
import {
  encode,
  MessageReader,
  pgError,
  readErrorFields,
  type ErrorFields,
  type Message,
} from '../../pg-wire/index.js'
import { corked } from './corked.js'
import type { Status } from './test-transaction.js'

export interface Backend {
  /** A connection that finished startup and authentication, owned from here on by the proxy. */
  stream: Duplex
  /** Sends the server a CancelRequest for this session. */
  cancel?: () => void
  /** The ParameterStatus values the server sent at startup, replayed to every client. */
  parameters: Record<string, string>
}

/** Where the replies to one unit of work go, up to its ReadyForQuery. */
export interface Sink {
  message(m: Message): void
  ready(status: Status): void
}

export interface ServerEvents {
  /** A ReadyForQuery reported this transaction status. */
  status(status: Status): void
  /** The server closed the session. */
  lost(): void
}

/**
 * The one server session all clients' statements go to: units of work are written in order and
 * their replies handed, in the same order, to the sink each unit left.
 */
export class ServerConnection {
  private reader = new MessageReader()
  private readonly sinks: Sink[] = []
  private stream!: Duplex
  private cancelRequest: (() => void) | undefined
  /** The ParameterStatus values the server sent at startup. */
  parameters: Record<string, string> = {}
  /** Why the session is gone, once it is. */
  broken: string | null = null

  constructor(
    backend: Backend,
    private readonly events: ServerEvents,
  ) {
    this.attach(backend)
  }

  /** Takes over a (new) session; the one before, if any, is no longer read. */
  attach({ stream, parameters, cancel }: Backend): void {
    this.cancelRequest = cancel
    this.stream = stream
    this.parameters = parameters
    this.reader = new MessageReader()
    this.sinks.length = 0
    this.broken = null
    stream.on('data', (chunk: Buffer) => {
      if (stream !== this.stream) return
      for (const m of this.reader.push(chunk)) this.dispatch(m)
    })
    stream.on('error', () => {})
    stream.on('close', () => {
      if (stream === this.stream) this.fail('the server closed the test session')
    })
  }

  get cancellable(): boolean {
    return this.cancelRequest !== undefined
  }

  /** Asks the server to cancel the statement running on the session. */
  cancel(): void {
    this.cancelRequest?.()
  }

  /** Writes a unit of work; its replies go to `sink`. */
  send(raw: Buffer, sink: Sink): void {
    this.expect(sink)
    this.write(raw)
  }

  /** The replies to the next unit written go to `sink`. */
  expect(sink: Sink): void {
    this.sinks.push(sink)
  }

  /** Writes (more of) a unit whose sink is in place. */
  write(raw: Buffer): void {
    corked(this.stream)
    this.stream.write(raw)
  }

  /** Runs pgrig's own SQL on the session, swallowing its replies; the error, if one came back. */
  exec(sql: string): Promise<{ error: ErrorFields | null }> {
    if (this.broken)
      return Promise.resolve({ error: pgError('08006', `the test session is gone (${this.broken})`) })
    return new Promise((resolve) => {
      let error: ErrorFields | null = null
      this.send(encode.query(sql), {
        message: (m) => {
          if (m.type === 'E') error = readErrorFields(m.body)
        },
        ready: () => resolve({ error }),
      })
    })
  }

  close(): void {
    this.broken ??= 'closed'
    this.stream.destroy()
  }

  private dispatch(m: Message): void {
    const sink = this.sinks[0]
    if (m.type === 'Z') {
      const status = String.fromCharCode(m.body[0] ?? 73) as Status
      this.events.status(status)
      this.sinks.shift()
      sink?.ready(status)
    } else {
      // Notices or notifications outside any unit have nobody to go to.
      sink?.message(m)
    }
  }

  private fail(reason: string): void {
    if (this.broken) return
    this.broken = reason
    for (const sink of this.sinks.splice(0)) sink.ready('E')
    this.events.lost()
  }
}
