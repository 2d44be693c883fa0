import type net from 'node:net'
import { randomInt } from 'node:crypto'
import {
  CANCEL_REQUEST,
  GSSENC_REQUEST,
  MessageReader,
  PROTOCOL_3_0,
  SSL_REQUEST,
  encode,
  frame,
  frameStrings,
  pgError,
  readCStrings,
  startupParameters,
  type Message,
} from '../../pg-wire/index.js'
import { corked } from './corked.js'
import { classify, raising, splitStatements, type Statement } from './statements.js'

/** What a client connection needs from the proxy it connected to. */
export interface FrontendHost {
  readonly password: string
  readonly identity: { user: string; database: string }
  /** The server's ParameterStatus values, replayed to the client at startup. */
  parameters(): Record<string, string>
  /** A CancelRequest arrived carrying this key. */
  cancel(pid: number, secret: number): void
  /** Whole messages from a client past its handshake. */
  receive(client: Frontend, messages: Message[]): void
  /** The client's socket closed. */
  closed(client: Frontend): void
}

/**
 * One client of the proxy: its handshake (TLS refused, cleartext password, the server's
 * parameters replayed), then the messages it sends, queued for the multiplexer.
 */
export class Frontend {
  readonly reader = new MessageReader()
  readonly queue: Message[] = []
  /** Its prepared statements, by the name the client gave them. */
  readonly statements = new Map<string, Statement>()
  phase: 'startup' | 'password' | 'ready' = 'startup'
  /** A unit of this client's is waiting for its turn on the session. */
  scheduled = false
  /** A unit of this client's is the one using the session. */
  inTurn = false
  closed = false
  /** Skipping messages up to the next Sync, as the server does after an error. */
  discarding = false
  /** Its BackendKeyData: a CancelRequest with this key cancels this client's statement only. */
  readonly key = { pid: randomInt(1, 2 ** 31 - 1), secret: randomInt(1, 2 ** 31 - 1) }
  private waiter: (() => void) | undefined

  constructor(
    readonly socket: net.Socket,
    readonly id: number,
    private readonly host: FrontendHost,
  ) {
    socket.setNoDelay(true)
    socket.on('error', () => {})
    socket.on('close', () => {
      this.closed = true
      this.wake()
      host.closed(this)
    })
    socket.on('data', (chunk: Buffer) => {
      try {
        if (this.phase === 'ready') return host.receive(this, this.reader.push(chunk))
        this.startup(chunk)
      } catch {
        socket.destroy()
      }
    })
  }

  /** A prepared statement or portal name that cannot collide with another client's. */
  name(name: string): string {
    return name === '' ? '' : `c${this.id}_${name}`
  }

  write(raw: Buffer): void {
    if (this.closed) return
    corked(this.socket)
    this.socket.write(raw)
  }

  wake(): void {
    const waiter = this.waiter
    this.waiter = undefined
    waiter?.()
  }

  /** The next message the client sends; null once it is gone. */
  async next(): Promise<Message | null> {
    while (this.queue.length === 0) {
      if (this.closed) return null
      await new Promise<void>((resolve) => (this.waiter = resolve))
    }
    return this.queue.shift() ?? null
  }

  /** What the unit `m` opens is about: one transaction-control statement, several, or neither. */
  statementOf(m: Message): Statement | 'multi' {
    if (m.type === 'Q') {
      const [text = ''] = readCStrings(m.body, 1).values
      const statements = splitStatements(text)
      if (statements.length > 1) {
        return statements.some((s) => classify(s).kind !== 'other') ? 'multi' : { kind: 'other' }
      }
      return classify(text)
    }
    if (m.type === 'P') {
      const [, text = ''] = readCStrings(m.body, 2).values
      return classify(text)
    }
    if (m.type === 'B') {
      const [, name = ''] = readCStrings(m.body, 2).values
      return this.statements.get(name) ?? { kind: 'other' }
    }
    return { kind: 'other' }
  }

  /** Renames prepared statements and portals per client, so two drivers never collide. */
  renamed(m: Message): Buffer {
    switch (m.type) {
      case 'P': {
        const { values } = readCStrings(m.body, 2)
        const [name = '', text = ''] = values
        const statement = classify(text)
        this.statements.set(name, statement)
        if (statement.kind !== 'other') {
          // BEGIN/COMMIT in the middle of another statement's unit: never let it reach the
          // session, where it would end the test's transaction.
          const raise = raising(
            'pgrig transaction isolation: send % in its own query, not pipelined with other statements',
            text,
          )
          return frameStrings('P', [this.name(name), raise], Buffer.from([0, 0]))
        }
        return frameStrings('P', [this.name(name)], m.body.subarray(readCStrings(m.body, 1).end))
      }
      case 'B': {
        const { values, end } = readCStrings(m.body, 2)
        return frameStrings(
          'B',
          [this.name(values[0] ?? ''), this.name(values[1] ?? '')],
          m.body.subarray(end),
        )
      }
      case 'E': {
        const { values, end } = readCStrings(m.body, 1)
        return frameStrings('E', [this.name(values[0] ?? '')], m.body.subarray(end))
      }
      case 'D':
      case 'C': {
        const kind = String.fromCharCode(m.body[0] ?? 83)
        const { values, end } = readCStrings(m.body.subarray(1), 1)
        if (m.type === 'C' && kind === 'S') this.statements.delete(values[0] ?? '')
        const name = Buffer.from(`${this.name(values[0] ?? '')}\0`, 'utf8')
        return frame(m.type, Buffer.concat([Buffer.from(kind, 'latin1'), name, m.body.subarray(1 + end)]))
      }
      default:
        return m.raw
    }
  }

  private startup(chunk: Buffer): void {
    if (this.phase === 'password') {
      const messages = this.reader.push(chunk)
      const m = messages.shift()
      if (!m) return
      const [given] = readCStrings(m.body, 1).values
      if (m.type !== 'p' || given !== this.host.password) {
        this.socket.end(
          encode.error(
            pgError('28P01', `password authentication failed for user "${this.host.identity.user}"`),
          ),
        )
        return
      }
      this.phase = 'ready'
      const greeting = [encode.authOk()]
      for (const [k, v] of Object.entries(this.host.parameters())) greeting.push(encode.parameterStatus(k, v))
      greeting.push(encode.backendKeyData(this.key.pid, this.key.secret))
      greeting.push(encode.readyForQuery('I'))
      this.socket.write(Buffer.concat(greeting))
      this.host.receive(this, messages)
      return
    }
    const packet = this.reader.pushStartup(chunk)
    if (!packet) return
    if (packet.code === SSL_REQUEST || packet.code === GSSENC_REQUEST) {
      this.socket.write('N')
      const rest = this.reader.rest()
      if (rest.length > 0) this.startup(rest)
      return
    }
    if (packet.code === CANCEL_REQUEST) {
      if (packet.body.length >= 8) this.host.cancel(packet.body.readInt32BE(0), packet.body.readInt32BE(4))
      this.socket.destroy()
      return
    }
    if (packet.code !== PROTOCOL_3_0) {
      this.socket.destroy()
      return
    }
    const params = startupParameters(packet.body)
    const { database } = this.host.identity
    if (params.database !== undefined && params.database !== database) {
      this.socket.end(
        encode.error(
          pgError(
            '3D000',
            `pgrig transaction isolation serves only database "${database}", not "${params.database}"`,
          ),
        ),
      )
      return
    }
    this.phase = 'password'
    this.socket.write(encode.authCleartext())
    const rest = this.reader.rest()
    if (rest.length > 0) this.startup(rest)
  }
}
