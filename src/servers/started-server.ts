import type { ChildProcess } from 'node:child_process'
import fs from 'node:fs'
import type { ServerSpec } from '../config/resolve.js'
import type { Engine } from '../engine/types.js'
import { PgrigError } from '../errors.js'
import { connectionEnv } from './connection-env.js'
import { killGroup, launch, stopPostmaster, type LaunchTarget } from './postmaster.js'
import type { Run } from './run.js'
import type { ServerTls, ServerInfo } from './server-info.js'

/** A running server pgrig started; stop it with `stop()` or `await using`. */
export class StartedServer implements AsyncDisposable {
  private stopped = false
  private stopping: Promise<void> | undefined

  /** @internal */
  constructor(
    private state: ServerInfo,
    private child: ChildProcess | undefined,
    private readonly ctx: ServerContext,
  ) {}

  get info(): ServerInfo {
    return structuredClone(this.state)
  }
  get name(): string {
    return this.state.name
  }
  get url(): string {
    return this.state.url
  }
  get host(): string {
    return this.state.host
  }
  get port(): number {
    return this.state.port
  }
  get user(): string {
    return this.state.user
  }
  get password(): string {
    return this.state.password
  }
  get database(): string {
    return this.state.database
  }
  get superuser(): ServerInfo['superuser'] {
    return { ...this.state.superuser }
  }
  get tls(): ServerTls | null {
    // A server pgrig runs always has its own certificate files.
    return this.state.tls && { ...(this.state.tls as ServerTls) }
  }
  get version(): string {
    return this.state.version
  }
  get pid(): number {
    return this.state.pid ?? 0
  }
  get dataDir(): string {
    return this.state.dataDir ?? ''
  }
  get logFile(): string {
    return this.state.logFile ?? ''
  }
  get runId(): string {
    return this.ctx.run.runId
  }

  /** `DATABASE_URL`, `PGHOST`… for this server, as `pgrig run` exports them. */
  env(): Record<string, string> {
    return connectionEnv([this.state])
  }

  /** Fast shutdown; the data dir is thrown away. Calling it again does nothing. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.stopped = true
      await stopPostmaster(this.pid)
      fs.rmSync(this.dataDir, { recursive: true, force: true, maxRetries: 5 })
      fs.rmSync(this.ctx.serverDir, { recursive: true, force: true, maxRetries: 5 })
      this.ctx.run.releaseName(this.name)
      this.ctx.run.closeIfEmpty()
    })()
    return this.stopping
  }

  /** Clean shutdown and start on the same port and data. */
  async restart(): Promise<void> {
    this.assertRunning('restart')
    await stopPostmaster(this.pid)
    await this.startAgain()
  }

  /**
   * SIGKILL to the postmaster and its backends, then a start that has to go through crash
   * recovery, as after a power cut.
   */
  async crash(): Promise<void> {
    this.assertRunning('crash')
    await killGroup(this.pid)
    await this.startAgain()
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop()
  }

  private assertRunning(what: string): void {
    if (this.stopped) {
      throw new PgrigError(
        'E_NOT_RUNNING',
        `cannot ${what} server ${this.name}: it was stopped; start a new one`,
      )
    }
  }

  private async startAgain(): Promise<void> {
    const { child, client } = await launch(this.ctx, this.state.port, (pid) => {
      this.state = { ...this.state, pid }
      this.ctx.run.record(this.state)
    })
    await client.end()
    this.child = child
  }

  /** @internal the postmaster child, when this process started it */
  get process(): ChildProcess | undefined {
    return this.child
  }
}

/** Where one server lives and how it runs: what starting it again needs. */
export interface ServerContext extends LaunchTarget {
  spec: ServerSpec
  engine: Engine
  run: Run
  serverDir: string
}
