import net from 'node:net'
import { randomBytes } from 'node:crypto'
import {
  encode,
  pgError,
  readCStrings,
  readErrorFields,
  type ErrorFields,
  type Message,
} from '../../pg-wire/index.js'
import { Frontend, type FrontendHost } from './frontend.js'
import { ServerConnection, type Backend } from './server-connection.js'
import { classify, type Statement } from './statements.js'
import { TestTransaction, USE_OTHER_MODE, type Answer } from './test-transaction.js'

export type { Backend } from './server-connection.js'

/**
 * A PostgreSQL server in the test worker that funnels every connection the code under test
 * opens, whatever its driver, into one backend session: the test's transaction.
 * BEGIN/COMMIT/ROLLBACK become a savepoint of that transaction, and every statement outside an
 * application transaction runs under its own savepoint, so a failed statement does not poison
 * the rest of the test, as in autocommit.
 *
 * This is the multiplexer: clients (frontend.ts) queue units of work, which take turns on the
 * one server session (server-connection.ts); what SQL the test's transaction needs is decided in
 * test-transaction.ts.
 */

export interface ProxyAddress {
  host: string
  port: number
  user: string
  password: string
  database: string
}

export class TransactionMultiplexer {
  private chain: Promise<unknown> = Promise.resolve()
  private readonly frontends = new Set<Frontend>()
  private readonly tx = new TestTransaction<Frontend>()
  private readonly server: ServerConnection
  private listener: net.Server | undefined
  private nextFrontendId = 1
  private closed = false
  readonly password = randomBytes(18).toString('base64url')
  address: ProxyAddress | undefined

  constructor(
    backend: Backend,
    readonly identity: { user: string; database: string },
    /** Opens a new session when the server dropped the old one (a restart, a crash). */
    private readonly reopen: () => Promise<Backend>,
  ) {
    this.server = new ServerConnection(backend, {
      status: (status) => (this.tx.serverStatus = status),
      lost: () => {
        for (const fe of this.frontends) fe.socket.destroy()
      },
    })
  }

  async listen(): Promise<ProxyAddress> {
    const host = this.frontendHost()
    const listener = net.createServer((socket) => {
      this.frontends.add(new Frontend(socket, this.nextFrontendId++, host))
    })
    this.listener = listener
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject)
      listener.listen(0, '127.0.0.1', () => resolve())
    })
    const { port } = listener.address() as net.AddressInfo
    this.address = {
      host: '127.0.0.1',
      port,
      user: this.identity.user,
      password: this.password,
      database: this.identity.database,
    }
    return this.address
  }

  /**
   * Costs no round trip: the test's BEGIN goes out with its first statement, so a test that
   * never touches the database pays nothing, and now() is the time of that first statement.
   */
  beginTest(): Promise<void> {
    return this.serial(async () => {
      if (this.server.broken && !this.closed) {
        // The test before saw the session die; this one starts on a fresh session.
        this.server.attach(await this.reopen())
        this.tx.replaced()
      }
      this.assertUsable()
      if (this.tx.testActive) await this.rollbackTest()
      this.tx.begin()
    })
  }

  endTest(): Promise<{ leftOpen: boolean }> {
    return this.serial(async () => {
      if (this.server.broken && !this.closed) {
        this.tx.lost()
        return { leftOpen: false }
      }
      this.assertUsable()
      await this.rollbackTest()
      return { leftOpen: this.tx.end() }
    })
  }

  async close(): Promise<void> {
    this.closed = true
    for (const fe of this.frontends) fe.socket.destroy()
    await new Promise<void>((resolve) => (this.listener ? this.listener.close(() => resolve()) : resolve()))
    this.server.close()
  }

  private frontendHost(): FrontendHost {
    return {
      password: this.password,
      identity: this.identity,
      parameters: () => this.server.parameters,
      cancel: (pid, secret) => this.cancel(pid, secret),
      receive: (fe, messages) => this.receive(fe, messages),
      closed: (fe) => {
        this.frontends.delete(fe)
        void this.serial(async () => {
          const sql = this.tx.gone(fe)
          if (sql) await this.server.exec(sql)
        })
      },
    }
  }

  /** Runs `task` when no other unit of work is using the session. */
  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.chain.then(task)
    this.chain = run.catch(() => {})
    return run
  }

  private async rollbackTest(): Promise<void> {
    const sql = this.tx.rollback()
    if (!sql) return
    const { error } = await this.server.exec(sql)
    if (error) throw new Error(`could not roll back the test transaction: ${error.M}`)
  }

  private assertUsable(): void {
    if (this.server.broken) throw new Error(`the test session is gone (${this.server.broken})`)
  }

  /**
   * A cancel request carries the key pgrig gave one client; it reaches the server only while
   * that client's statement is the one running, so it cannot stop another client's work.
   */
  private cancel(pid: number, secret: number): void {
    if (!this.server.cancellable) return
    const fe = [...this.frontends].find((f) => f.key.pid === pid && f.key.secret === secret)
    if (!fe || !fe.inTurn) return
    this.server.cancel()
  }

  private receive(fe: Frontend, messages: Message[]): void {
    while (fe.discarding && messages.length > 0) {
      const m = messages.shift()
      if (m?.type === 'S') {
        fe.discarding = false
        fe.write(encode.readyForQuery(this.tx.status(fe)))
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

  /** One unit of work: a simple Query, or extended-protocol messages up to Sync. */
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
      const broken = this.server.broken
      if (broken) return this.reject(fe, pgError('08006', `the test session is gone (${broken})`))
      const refusal = this.tx.refusal(fe)
      if (refusal) return this.reject(fe, refusal)
      const statement = fe.statementOf(first)
      if (statement === 'multi') return await this.forward(fe, true)
      if (statement.kind === 'other') return await this.forward(fe, false)
      return await this.emulate(fe, statement)
    } finally {
      fe.inTurn = false
      this.schedule(fe)
    }
  }

  /** Answers a unit with one error, skipping the rest of it, as the server does after an error. */
  private async reject(fe: Frontend, error: ErrorFields): Promise<void> {
    const first = await fe.next()
    fe.write(encode.error(error))
    if (!first || first.type === 'Q' || first.type === 'S') {
      fe.write(encode.readyForQuery(this.tx.status(fe)))
      return
    }
    // Skip to the unit's Sync without waiting for it: a client that flushed and waits for an
    // answer must not hold the session.
    while (fe.queue.length > 0) {
      if (fe.queue.shift()?.type === 'S') {
        fe.write(encode.readyForQuery(this.tx.status(fe)))
        return
      }
    }
    fe.discarding = true
  }

  private async forward(fe: Frontend, multi: boolean): Promise<void> {
    // Pipelined ahead of the unit: no extra round trip.
    const prelude = this.tx.beforeStatements()
    if (prelude) this.server.send(encode.query(prelude), { message: () => {}, ready: () => {} })
    let failed = false
    let completed = 0
    let effects: Statement[] = []
    let copyIn = (): void => {}
    const copyStarted = new Promise<'copy'>((resolve) => (copyIn = () => resolve('copy')))
    const done = new Promise<'done'>((resolve) => {
      this.server.expect({
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
        this.server.write(encode.sync())
        break
      }
      if (m.type === 'Q' && multi) {
        const rewritten = this.tx.rewrite(readCStrings(m.body, 1).values[0] ?? '')
        effects = rewritten.effects
        this.server.write(encode.query(rewritten.text))
        break
      }
      this.server.write(fe.renamed(m))
      if (m.type === 'Q' || m.type === 'S' || m.type === 'F') break
    }
    if ((await Promise.race([done, copyStarted])) === 'copy') {
      // COPY … FROM STDIN: the client's data belongs to this unit. The server ignores a Sync
      // sent before the data, so an extended-protocol client sends another after CopyDone.
      let copying = true
      for (;;) {
        const m = await fe.next()
        if (!m) {
          this.server.write(copying ? encode.copyFail('the client disconnected') : encode.sync())
          break
        }
        this.server.write(m.raw)
        if (m.type === 'c' || m.type === 'f') copying = false
        if (!copying && (!extended || m.type === 'S')) break
      }
    }
    await done
    const undo = this.tx.afterStatements(fe, { effects, failed, completed })
    if (undo && !this.server.broken) await this.server.exec(undo)
    fe.write(encode.readyForQuery(this.tx.status(fe)))
  }

  /** A unit about one transaction-control statement, answered here with real savepoints behind it. */
  private async emulate(fe: Frontend, statement: Statement): Promise<void> {
    const first = await fe.next()
    if (!first) return
    if (first.type === 'Q') {
      const result = await this.control(fe, statement)
      fe.write(result.error ? encode.error(result.error) : encode.commandComplete(result.tag))
      fe.write(encode.readyForQuery(this.tx.status(fe)))
      return
    }
    let failed = false
    let bound: Statement = statement
    for (let m: Message | null = first; m; m = await fe.next()) {
      if (m.type === 'S') {
        fe.write(encode.readyForQuery(this.tx.status(fe)))
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
        const result = await this.control(fe, bound)
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

  /** Runs the SQL a transaction-control statement needs, step by step, to its answer. */
  private async control(fe: Frontend, statement: Statement): Promise<Answer> {
    let step = this.tx.control(fe, statement)
    while ('sql' in step) step = step.next((await this.server.exec(step.sql)).error)
    return step
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
