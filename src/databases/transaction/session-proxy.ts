import net from 'node:net'
import type { Duplex } from 'node:stream'
import { randomBytes, randomInt } from 'node:crypto'
import { classify, splitStatements, type Statement } from './statements.js'
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
  readErrorFields,
  startupParameters,
  type ErrorFields,
  type Message,
} from '../../pg-wire/index.js'

/**
 * A PostgreSQL server in the test worker that funnels every connection the code under test
 * opens, whatever its driver, into one backend session: the test's transaction.
 * BEGIN/COMMIT/ROLLBACK become a savepoint of that transaction, and every statement outside an
 * application transaction runs under its own savepoint, so a failed statement does not poison
 * the rest of the test, as in autocommit.
 */

const TX = 'pgrig_tx'
const STMT = 'pgrig_stmt'
const USE_OTHER_MODE = "use isolation: 'database' or 'truncate' for this test"

type Status = 'I' | 'T' | 'E'

interface Sink {
  message(m: Message): void
  ready(status: Status): void
}

interface Exec {
  error: ErrorFields | null
}

export interface Backend {
  /** A connection that finished startup and authentication, owned from here on by the proxy. */
  stream: Duplex
  /** Sends the server a CancelRequest for this session. */
  cancel?: () => void
  /** The ParameterStatus values the server sent at startup, replayed to every client. */
  parameters: Record<string, string>
}

export interface ProxyAddress {
  host: string
  port: number
  user: string
  password: string
  database: string
}

export class SessionProxy {
  private reader = new MessageReader()
  private readonly sinks: Sink[] = []
  private chain: Promise<unknown> = Promise.resolve()
  private readonly frontends = new Set<Frontend>()
  private server: net.Server | undefined
  private testActive = false
  private pendingBegin = false
  private txOwner: Frontend | null = null
  private statementSavepoint = false
  private backendStatus: Status = 'I'
  private broken: string | null = null
  private nextFrontendId = 1
  readonly password = randomBytes(18).toString('base64url')
  address: ProxyAddress | undefined

  private backend!: Duplex
  private parameters: Record<string, string> = {}
  private closed = false
  private backendKey: { send: () => void } | undefined

  constructor(
    backend: Backend,
    private readonly identity: { user: string; database: string },
    /** Opens a new session when the server dropped the old one (a restart, a crash). */
    private readonly reopen: () => Promise<Backend>,
  ) {
    this.attach(backend)
  }

  private attach({ stream, parameters, cancel }: Backend): void {
    this.backendKey = cancel ? { send: cancel } : undefined
    this.backend = stream
    this.parameters = parameters
    this.reader = new MessageReader()
    this.sinks.length = 0
    this.broken = null
    stream.on('data', (chunk: Buffer) => {
      if (stream !== this.backend) return
      for (const m of this.reader.push(chunk)) this.dispatch(m)
    })
    stream.on('error', () => {})
    stream.on('close', () => {
      if (stream === this.backend) this.fail('the server closed the test session')
    })
  }

  async listen(): Promise<ProxyAddress> {
    const server = net.createServer((socket) => this.accept(socket))
    this.server = server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve())
    })
    const { port } = server.address() as net.AddressInfo
    this.address = {
      host: '127.0.0.1',
      port,
      user: this.identity.user,
      password: this.password,
      database: this.identity.database,
    }
    return this.address
  }

  /** Runs `task` when no other unit of work is using the backend. */
  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.chain.then(task)
    this.chain = run.catch(() => {})
    return run
  }

  /**
   * Costs no round trip: the test's BEGIN goes out with its first statement, so a test that
   * never touches the database pays nothing, and now() is the time of that first statement.
   */
  beginTest(): Promise<void> {
    return this.serial(async () => {
      if (this.broken && !this.closed) {
        // The test before saw the session die; this one starts on a fresh session.
        this.attach(await this.reopen())
        this.testActive = false
        this.pendingBegin = false
      }
      this.assertUsable()
      if (this.testActive) await this.rollbackTest()
      this.testActive = true
      this.pendingBegin = true
      this.txOwner = null
      this.statementSavepoint = false
    })
  }

  endTest(): Promise<{ leftOpen: boolean }> {
    return this.serial(async () => {
      if (this.broken && !this.closed) {
        // The server dropped the session, and with it the test's transaction: nothing to undo.
        this.testActive = false
        this.txOwner = null
        return { leftOpen: false }
      }
      this.assertUsable()
      const leftOpen = this.txOwner !== null
      await this.rollbackTest()
      this.testActive = false
      this.txOwner = null
      this.statementSavepoint = false
      return { leftOpen }
    })
  }

  private async rollbackTest(): Promise<void> {
    if (this.pendingBegin) {
      this.pendingBegin = false
      return
    }
    // Session-level advisory locks survive ROLLBACK; the next test must not inherit them.
    const { error } = await this.exec('ROLLBACK; SELECT pg_advisory_unlock_all()')
    if (error) throw new Error(`could not roll back the test transaction: ${error.M}`)
  }

  /** The test's BEGIN, sent ahead of the first statement that needs the transaction. */
  private opening(): string {
    if (!this.pendingBegin) return ''
    this.pendingBegin = false
    return 'BEGIN; '
  }

  async close(): Promise<void> {
    this.closed = true
    for (const fe of this.frontends) fe.socket.destroy()
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()))
    this.broken ??= 'closed'
    this.backend.destroy()
  }

  private assertUsable(): void {
    if (this.broken) throw new Error(`the test session is gone (${this.broken})`)
  }

  private fail(reason: string): void {
    if (this.broken) return
    this.broken = reason
    for (const sink of this.sinks.splice(0)) sink.ready('E')
    for (const fe of this.frontends) fe.socket.destroy()
  }

  private dispatch(m: Message): void {
    const sink = this.sinks[0]
    if (m.type === 'Z') {
      this.backendStatus = String.fromCharCode(m.body[0] ?? 73) as Status
      this.sinks.shift()
      sink?.ready(this.backendStatus)
    } else {
      // Notices or notifications outside any unit have nobody to go to.
      sink?.message(m)
    }
  }

  private send(raw: Buffer, sink?: Sink): void {
    if (sink) this.sinks.push(sink)
    this.toBackend(raw)
  }

  /** Writes made in one turn of the event loop leave as one packet, not one per message. */
  private toBackend(raw: Buffer): void {
    corked(this.backend)
    this.backend.write(raw)
  }

  /** Runs pgrig's own SQL on the session, swallowing its replies. */
  private exec(sql: string): Promise<Exec> {
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

  // ---- frontends ----

  private accept(socket: net.Socket): void {
    const fe = new Frontend(socket, this.nextFrontendId++)
    this.frontends.add(fe)
    socket.setNoDelay(true)
    socket.on('error', () => {})
    socket.on('close', () => {
      this.frontends.delete(fe)
      fe.closed = true
      fe.wake()
      void this.serial(() => this.frontendGone(fe))
    })
    socket.on('data', (chunk: Buffer) => {
      try {
        if (fe.phase === 'ready') return this.receive(fe, fe.reader.push(chunk))
        this.startup(fe, chunk)
      } catch {
        socket.destroy()
      }
    })
  }

  private startup(fe: Frontend, chunk: Buffer): void {
    if (fe.phase === 'password') {
      const messages = fe.reader.push(chunk)
      const m = messages.shift()
      if (!m) return
      const [given] = readCStrings(m.body, 1).values
      if (m.type !== 'p' || given !== this.password) {
        fe.socket.end(
          encode.error(pgError('28P01', `password authentication failed for user "${this.identity.user}"`)),
        )
        return
      }
      fe.phase = 'ready'
      const greeting = [encode.authOk()]
      for (const [k, v] of Object.entries(this.parameters)) greeting.push(encode.parameterStatus(k, v))
      greeting.push(encode.backendKeyData(fe.key.pid, fe.key.secret))
      greeting.push(encode.readyForQuery('I'))
      fe.socket.write(Buffer.concat(greeting))
      this.receive(fe, messages)
      return
    }
    const packet = fe.reader.pushStartup(chunk)
    if (!packet) return
    if (packet.code === SSL_REQUEST || packet.code === GSSENC_REQUEST) {
      fe.socket.write('N')
      const rest = fe.reader.rest()
      if (rest.length > 0) this.startup(fe, rest)
      return
    }
    if (packet.code === CANCEL_REQUEST) {
      this.cancel(packet.body)
      fe.socket.destroy()
      return
    }
    if (packet.code !== PROTOCOL_3_0) {
      fe.socket.destroy()
      return
    }
    const params = startupParameters(packet.body)
    if (params.database !== undefined && params.database !== this.identity.database) {
      fe.socket.end(
        encode.error(
          pgError(
            '3D000',
            `pgrig transaction isolation serves only database "${this.identity.database}", not "${params.database}"`,
          ),
        ),
      )
      return
    }
    fe.phase = 'password'
    fe.socket.write(encode.authCleartext())
    const rest = fe.reader.rest()
    if (rest.length > 0) this.startup(fe, rest)
  }

  private receive(fe: Frontend, messages: Message[]): void {
    while (fe.discarding && messages.length > 0) {
      const m = messages.shift()
      if (m?.type === 'S') {
        fe.discarding = false
        fe.write(encode.readyForQuery(this.status(fe)))
      }
    }
    if (messages.length === 0) return
    fe.queue.push(...messages)
    fe.wake()
    this.schedule(fe)
  }

  private schedule(fe: Frontend): void {
    if (fe.scheduled || fe.inTurn || fe.queue.length === 0 || fe.closed) return
    fe.scheduled = true
    void this.serial(() => this.runUnit(fe))
  }

  private async frontendGone(fe: Frontend): Promise<void> {
    // A driver that disconnects inside a transaction gets it rolled back, as PostgreSQL does.
    if (this.txOwner === fe) {
      this.txOwner = null
      await this.exec(`ROLLBACK TO SAVEPOINT ${TX}; RELEASE SAVEPOINT ${TX}`)
    }
  }

  private status(fe: Frontend): Status {
    return this.txOwner === fe ? this.backendStatus : 'I'
  }

  /** One unit of work: a simple Query, or extended-protocol messages up to Sync. */
  /**
   * A cancel request carries the key pgrig gave one client; it reaches the server only while
   * that client's statement is the one running, so it cannot stop another client's work.
   */
  private cancel(body: Buffer): void {
    if (body.length < 8 || !this.backendKey) return
    const pid = body.readInt32BE(0)
    const secret = body.readInt32BE(4)
    const fe = [...this.frontends].find((f) => f.key.pid === pid && f.key.secret === secret)
    if (!fe || !fe.inTurn) return
    this.backendKey.send()
  }

  private async runUnit(fe: Frontend): Promise<void> {
    fe.scheduled = false
    fe.inTurn = true
    try {
      const first = fe.queue[0]
      if (!first) return
      if (first.type === 'X') {
        fe.queue.length = 0
        fe.closed = true
        fe.socket.destroy()
        return
      }
      if ('dcfH'.includes(first.type)) {
        // Copy messages after a COPY ended (postgres.js sends a CopyFail when its stream closes)
        // and a lone Flush get no reply from the server either.
        fe.queue.shift()
        return
      }
      if (this.broken) return this.reject(fe, pgError('08006', `the test session is gone (${this.broken})`))
      if (!this.testActive) {
        return this.reject(
          fe,
          pgError(
            '25000',
            'pgrig transaction isolation: a query ran outside a test (at import time, in beforeAll/afterAll or after the test ended), where it would commit for real; run it inside the test or a beforeEach',
          ),
        )
      }
      if (this.txOwner !== null && this.txOwner !== fe) {
        return this.reject(
          fe,
          pgError(
            '25000',
            `pgrig transaction isolation: a second connection ran a statement while another connection was inside a transaction; all connections share the test's one session, so it would see uncommitted rows; ${USE_OTHER_MODE}`,
          ),
        )
      }
      const statement = this.statementOf(fe, first)
      if (statement === 'multi') return await this.forward(fe, true)
      if (statement.kind === 'other') return await this.forward(fe, false)
      return await this.emulate(fe, statement)
    } finally {
      fe.inTurn = false
      this.schedule(fe)
    }
  }

  private statementOf(fe: Frontend, m: Message): Statement | 'multi' {
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
      return fe.statements.get(name) ?? { kind: 'other' }
    }
    return { kind: 'other' }
  }

  /** Answers a unit with one error, skipping the rest of it, as the server does after an error. */
  private async reject(fe: Frontend, error: ErrorFields): Promise<void> {
    const first = await fe.next()
    fe.write(encode.error(error))
    if (!first || first.type === 'Q' || first.type === 'S') {
      fe.write(encode.readyForQuery(this.status(fe)))
      return
    }
    // Skip to the unit's Sync without waiting for it: a client that flushed and waits for an
    // answer must not hold the session.
    while (fe.queue.length > 0) {
      if (fe.queue.shift()?.type === 'S') {
        fe.write(encode.readyForQuery(this.status(fe)))
        return
      }
    }
    fe.discarding = true
  }

  private async forward(fe: Frontend, multi: boolean): Promise<void> {
    const outsideTransaction = this.txOwner === null
    if (outsideTransaction) {
      // Pipelined ahead of the unit: no extra round trip.
      this.send(
        encode.query(
          this.opening() +
            (this.statementSavepoint ? `RELEASE SAVEPOINT ${STMT}; SAVEPOINT ${STMT}` : `SAVEPOINT ${STMT}`),
        ),
        { message: () => {}, ready: () => {} },
      )
      this.statementSavepoint = true
    }
    let failed = false
    let completed = 0
    let effects: Statement[] = []
    let copyIn = (): void => {}
    const copyStarted = new Promise<'copy'>((resolve) => (copyIn = () => resolve('copy')))
    const done = new Promise<'done'>((resolve) => {
      this.sinks.push({
        message: (m) => {
          if (m.type === 'G') copyIn()
          if (m.type === 'C' || m.type === 'I') completed++
          if (m.type === 'E') {
            failed = true
            fe.write(explainError(m))
          } else if (m.type !== 'A') {
            fe.write(m.raw)
          }
        },
        ready: () => resolve('done'),
      })
    })
    let extended = false
    for (;;) {
      const m = await fe.next()
      extended ||= m?.type !== 'Q'
      if (!m || m.type === 'X') {
        // The client left mid-unit: close the unit so the session stays usable.
        this.toBackend(encode.sync())
        break
      }
      if (m.type === 'Q' && multi) {
        const rewritten = this.rewriteMulti(readCStrings(m.body, 1).values[0] ?? '')
        effects = rewritten.effects
        this.toBackend(encode.query(rewritten.text))
        break
      }
      this.toBackend(this.renamed(fe, m))
      if (m.type === 'Q' || m.type === 'S' || m.type === 'F') break
    }
    if ((await Promise.race([done, copyStarted])) === 'copy') {
      // COPY … FROM STDIN: the client's data belongs to this unit. The server ignores a Sync
      // sent before the data, so an extended-protocol client sends another after CopyDone.
      let copying = true
      for (;;) {
        const m = await fe.next()
        if (!m) {
          this.toBackend(copying ? encode.copyFail('the client disconnected') : encode.sync())
          break
        }
        this.toBackend(m.raw)
        if (m.type === 'c' || m.type === 'f') copying = false
        if (!copying && (!extended || m.type === 'S')) break
      }
    }
    await done
    if (effects.length > 0) this.applyEffects(fe, effects.slice(0, failed ? completed : effects.length))
    if (failed && this.txOwner === null && !this.broken) {
      await this.exec(`ROLLBACK TO SAVEPOINT ${STMT}`)
    }
    fe.write(encode.readyForQuery(this.status(fe)))
  }

  /** Renames prepared statements and portals per client, so two drivers never collide. */
  private renamed(fe: Frontend, m: Message): Buffer {
    switch (m.type) {
      case 'P': {
        const { values } = readCStrings(m.body, 2)
        const [name = '', text = ''] = values
        const statement = classify(text)
        fe.statements.set(name, statement)
        if (statement.kind !== 'other') {
          // BEGIN/COMMIT in the middle of another statement's unit: never let it reach the
          // session, where it would end the test's transaction.
          const raise = `DO $pgrig$BEGIN RAISE EXCEPTION 'pgrig transaction isolation: send % in its own query, not pipelined with other statements', ${quoteText(text.trim().slice(0, 40))}; END$pgrig$`
          return frameStrings('P', [fe.name(name), raise], Buffer.from([0, 0]))
        }
        return frameStrings('P', [fe.name(name)], m.body.subarray(readCStrings(m.body, 1).end))
      }
      case 'B': {
        const { values, end } = readCStrings(m.body, 2)
        return frameStrings('B', [fe.name(values[0] ?? ''), fe.name(values[1] ?? '')], m.body.subarray(end))
      }
      case 'E': {
        const { values, end } = readCStrings(m.body, 1)
        return frameStrings('E', [fe.name(values[0] ?? '')], m.body.subarray(end))
      }
      case 'D':
      case 'C': {
        const kind = String.fromCharCode(m.body[0] ?? 83)
        const { values, end } = readCStrings(m.body.subarray(1), 1)
        if (m.type === 'C' && kind === 'S') fe.statements.delete(values[0] ?? '')
        const name = Buffer.from(`${fe.name(values[0] ?? '')}\0`, 'utf8')
        return frame(m.type, Buffer.concat([Buffer.from(kind, 'latin1'), name, m.body.subarray(1 + end)]))
      }
      default:
        return m.raw
    }
  }

  /** Rewrites transaction control inside a multi-statement simple query, statement by statement. */
  private rewriteMulti(text: string): { text: string; effects: Statement[] } {
    let open = this.txOwner !== null
    const effects: Statement[] = []
    const out = splitStatements(text).map((sql) => {
      const s = classify(sql)
      effects.push(s)
      switch (s.kind) {
        case 'begin':
          if (open) return 'SELECT WHERE false'
          open = true
          return `SAVEPOINT ${TX}`
        case 'commit':
          if (!open) return 'SELECT WHERE false'
          open = s.chain
          return s.chain ? `RELEASE SAVEPOINT ${TX}; SAVEPOINT ${TX}` : `RELEASE SAVEPOINT ${TX}`
        case 'rollback':
          if (!open) return 'SELECT WHERE false'
          open = s.chain
          // Left in place rather than released, to keep one statement per statement.
          return `ROLLBACK TO SAVEPOINT ${TX}`
        case 'two-phase':
        case 'listen':
          return `DO $pgrig$BEGIN RAISE EXCEPTION 'pgrig transaction isolation cannot run %; ${USE_OTHER_MODE.replace(/'/g, "''")}', ${quoteText(sql.trim().slice(0, 40))}; END$pgrig$`
        default:
          return sql
      }
    })
    return { text: out.join(';\n'), effects }
  }

  private applyEffects(fe: Frontend, effects: Statement[]): void {
    for (const s of effects) {
      if (s.kind === 'begin') this.txOwner = fe
      else if ((s.kind === 'commit' || s.kind === 'rollback') && !s.chain) this.txOwner = null
    }
  }

  /** A unit about one transaction-control statement, answered here with real savepoints behind it. */
  private async emulate(fe: Frontend, statement: Statement): Promise<void> {
    const first = await fe.next()
    if (!first) return
    if (first.type === 'Q') {
      const result = await this.effect(fe, statement)
      fe.write(result.error ? encode.error(result.error) : encode.commandComplete(result.tag))
      fe.write(encode.readyForQuery(this.status(fe)))
      return
    }
    let failed = false
    let bound: Statement = statement
    for (let m: Message | null = first; m; m = await fe.next()) {
      if (m.type === 'S') {
        fe.write(encode.readyForQuery(this.status(fe)))
        return
      }
      if (failed) continue
      if (m.type === 'P') {
        const [name = '', text = ''] = readCStrings(m.body, 2).values
        fe.statements.set(name, classify(text))
        fe.write(encode.parseComplete())
      } else if (m.type === 'B') {
        const [, name = ''] = readCStrings(m.body, 2).values
        bound = fe.statements.get(name) ?? { kind: 'other' }
        if (bound.kind === 'other') {
          failed = true
          fe.write(
            encode.error(
              pgError(
                '0A000',
                'pgrig transaction isolation: send BEGIN/COMMIT/ROLLBACK in their own query, not pipelined with other statements',
              ),
            ),
          )
        } else {
          fe.write(encode.bindComplete())
        }
      } else if (m.type === 'D') {
        fe.write(m.body[0] === 83 ? Buffer.concat([encode.noParameters(), encode.noData()]) : encode.noData())
      } else if (m.type === 'E') {
        const result = await this.effect(fe, bound)
        if (result.error) {
          failed = true
          fe.write(encode.error(result.error))
        } else {
          fe.write(encode.commandComplete(result.tag))
        }
      } else if (m.type === 'C') {
        fe.write(encode.closeComplete())
      } else if (m.type === 'X') {
        fe.socket.destroy()
        return
      }
    }
  }

  private async effect(fe: Frontend, s: Statement): Promise<{ tag: string; error?: ErrorFields }> {
    const fail = (error: ErrorFields | null, tag: string) => (error ? { tag, error } : { tag })
    switch (s.kind) {
      case 'listen':
        return {
          tag: 'LISTEN',
          error: pgError(
            '0A000',
            `pgrig transaction isolation cannot LISTEN: notifications are delivered only when a transaction commits, and the test's transaction never does; ${USE_OTHER_MODE}`,
          ),
        }
      case 'two-phase':
        return {
          tag: 'PREPARE TRANSACTION',
          error: pgError(
            '0A000',
            `pgrig transaction isolation cannot run two-phase commit inside the test's transaction; ${USE_OTHER_MODE}`,
          ),
        }
      case 'begin': {
        if (s.unsupportedMode !== null) {
          return {
            tag: 'BEGIN',
            error: pgError(
              '0A000',
              `pgrig transaction isolation turns BEGIN into a savepoint of the test's transaction, which cannot take its own "${s.unsupportedMode}"; use isolation: 'database' for this test`,
            ),
          }
        }
        if (this.txOwner === fe) return { tag: 'BEGIN' }
        const { error } = await this.exec(`${this.opening()}SAVEPOINT ${TX}`)
        if (!error) this.txOwner = fe
        return fail(error, 'BEGIN')
      }
      case 'commit':
      case 'rollback': {
        if (this.txOwner !== fe) {
          return s.chain
            ? this.effect(fe, { kind: 'begin', unsupportedMode: null })
            : { tag: s.kind.toUpperCase() }
        }
        // COMMIT of a failed transaction rolls back, and says so, as PostgreSQL does.
        const rollsBack = s.kind === 'rollback' || this.backendStatus === 'E'
        const { error } = await this.exec(
          rollsBack ? `ROLLBACK TO SAVEPOINT ${TX}; RELEASE SAVEPOINT ${TX}` : `RELEASE SAVEPOINT ${TX}`,
        )
        if (error) return fail(error, 'ROLLBACK')
        this.txOwner = null
        if (s.chain)
          return {
            ...(await this.effect(fe, { kind: 'begin', unsupportedMode: null })),
            tag: rollsBack ? 'ROLLBACK' : 'COMMIT',
          }
        return { tag: rollsBack ? 'ROLLBACK' : 'COMMIT' }
      }
      default:
        return { tag: '' }
    }
  }
}

/** Statements that cannot run in a transaction block get a line saying which mode to use. */
function explainError(m: Message): Buffer {
  const fields = readErrorFields(m.body)
  if (fields.C !== '25001') return m.raw
  return encode.error({
    ...fields,
    M: `${fields.M ?? 'statement'} (pgrig transaction isolation runs every test inside one transaction; ${USE_OTHER_MODE})`,
  })
}

const corkedStreams = new WeakSet<Duplex>()

function corked(stream: Duplex): void {
  if (corkedStreams.has(stream)) return
  corkedStreams.add(stream)
  stream.cork()
  // After the promise jobs of this turn, so a whole unit read from one chunk goes out together.
  setImmediate(() => {
    corkedStreams.delete(stream)
    stream.uncork()
  })
}

function quoteText(text: string): string {
  return `'${text.replace(/'/g, "''")}'`
}

class Frontend {
  readonly reader = new MessageReader()
  readonly queue: Message[] = []
  readonly statements = new Map<string, Statement>()
  phase: 'startup' | 'password' | 'ready' = 'startup'
  scheduled = false
  inTurn = false
  closed = false
  discarding = false
  readonly key = { pid: randomInt(1, 2 ** 31 - 1), secret: randomInt(1, 2 ** 31 - 1) }
  private waiter: (() => void) | undefined

  constructor(
    readonly socket: net.Socket,
    readonly id: number,
  ) {}

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

  async next(): Promise<Message | null> {
    while (this.queue.length === 0) {
      if (this.closed) return null
      await new Promise<void>((resolve) => (this.waiter = resolve))
    }
    return this.queue.shift() ?? null
  }
}
