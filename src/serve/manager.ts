import { createHash } from 'node:crypto'
import { ClonePool, type Lease, type PoolStats } from '../databases/clone-pool.js'
import { templateBuildDatabaseName, templateDatabaseName } from '../databases/guard.js'
import { hostOf, parseLibpqUrl, portOf } from '../servers/libpq-url.js'
import {
  apiError,
  isApiError,
  type ApiError,
  type DatabaseConfig,
  type TemplateDatabase,
  type TestDatabase,
} from './api-types.js'
import {
  createBuildDatabase,
  dropDatabases,
  finalizeBuildDatabase,
  readServerVersionNum,
} from './template-databases.js'
import { within } from './within.js'

/**
 * IntegreSQL's model over pgrig's pool: templates by the client's hash, each finalized template
 * with its own ClonePool, and test databases known by a number. A test database is leased to one
 * holder at a time; a database given back dirty is dropped and replaced, never handed out again.
 * The number names one checkout, not a database: a database handed out again gets a new one, so a
 * late or repeated give-back of an old number is a no-op and never reaches the next holder.
 */

export interface ManagerOptions {
  /** Superuser URL of the server: creates, renames and drops. */
  adminUrl: string
  /** The app user: owner of templates and test databases, and the credentials clients get. */
  appUrl: string
  runId: string
  /** Clones kept ready per template (INTEGRESQL_TEST_INITIAL_POOL_SIZE). */
  poolSize: number
  /** Cap on clones alive per template (INTEGRESQL_TEST_MAX_POOL_SIZE). */
  poolMax: number
  /** How long a test database request waits for a template still being built. */
  finalizeTimeoutMs: number
  /** How long a test database request waits for a free database when the pool is at its cap. */
  getTimeoutMs: number
  /** Clones created (and dropped) at once per template (INTEGRESQL_NUM_OF_CLEANING_WORKERS). */
  cleaningWorkers?: number | undefined
  /**
   * Holders must give their databases back (INTEGRESQL_TEST_DB_FORCE_RETURN): at the cap a request
   * waits for one. Without it, the database handed out longest ago is taken back and recreated.
   */
  forceReturn?: boolean | undefined
  /** The server runs on this machine (pgrig started it): the pool's own backends run niced. */
  localServer?: boolean | undefined
  /**
   * Created by the superuser in each new template, so untrusted ones (postgres_fdw) work; they are
   * part of the template's name, so another list makes another template.
   */
  extensions?: string[] | undefined
}

interface ServeTemplate {
  hash: string
  buildName: string
  finalName: string
  state: 'initializing' | 'ready' | 'discarded'
  finalized: Promise<void>
  settle: (error?: ApiError) => void
  finalizing?: Promise<void>
  pool?: ClonePool
  /** The checkouts still out: id → database. */
  out: Map<number, string>
  /** The id of each database that is out. */
  idOf: Map<string, number>
  /** The next checkout's id; every lower one was handed out once. */
  nextId: number
}

/** Clone numbers for every manager in this process: two serving one server under one run never pick the same name. */
let cloneIndex = 0

const notFound = () => apiError('E_SERVE_NOT_FOUND', 'template not found')
const discarded = () => apiError('E_SERVE_GONE', 'template was just discarded')

export class TemplateManager {
  private readonly templates = new Map<string, ServeTemplate>()
  private serverVersionNum: Promise<number> | undefined
  private readonly app: URL
  /** What every database's config says besides its name (read from the app URL once). */
  private readonly server: Omit<DatabaseConfig, 'database'>

  constructor(private readonly options: ManagerOptions) {
    this.app = parseLibpqUrl(options.appUrl)
    this.server = {
      host: hostOf(this.app),
      port: portOf(this.app),
      username: this.owner,
      password: decodeURIComponent(this.app.password),
    }
    const params = [...this.app.searchParams].filter(([key]) => key !== 'host' && key !== 'port')
    if (params.length) this.server.additionalParams = Object.fromEntries(params)
  }

  /** POST /templates: a new, empty template database for the client to migrate. */
  async initialize(hash: string): Promise<TemplateDatabase> {
    if (hash.length === 0) throw apiError('E_SERVE_INVALID', 'hash is required')
    const known = this.templates.get(hash)
    if (known && known.state !== 'discarded')
      throw apiError('E_SERVE_LOCKED', 'template is already initialized')
    const extensions = this.options.extensions ?? []
    const digest = createHash('sha256')
      .update(
        `pgrig-serve-v1\n${hash}${extensions.length ? `\nextensions:${JSON.stringify(extensions)}` : ''}`,
      )
      .digest('hex')
    const template = this.track(
      hash,
      templateBuildDatabaseName(digest.slice(0, 16), this.options.runId),
      templateDatabaseName(digest.slice(0, 16)),
    )
    try {
      const reused =
        (await createBuildDatabase(
          this.options.adminUrl,
          template,
          this.owner,
          this.options.runId,
          extensions,
        )) === 'reused'
      if (reused) {
        await this.open(template)
        throw apiError('E_SERVE_LOCKED', 'template is already initialized')
      }
    } catch (error) {
      if (!isApiError(error)) this.forget(template, apiError('E_SERVE_FAILED', (error as Error).message))
      throw isApiError(error) ? error : apiError('E_SERVE_FAILED', (error as Error).message)
    }
    return this.describeTemplate(template, template.buildName)
  }

  /** PUT /templates/:hash: the client's migrations are done; clones can be made from it. */
  async finalize(hash: string): Promise<void> {
    const template = this.templates.get(hash)
    if (!template || template.state === 'discarded') throw notFound()
    if (template.state === 'ready') return
    template.finalizing ??= finalizeBuildDatabase(this.options.adminUrl, template).then(() =>
      this.open(template),
    )
    try {
      await template.finalizing
    } catch (error) {
      template.finalizing = undefined
      throw apiError('E_SERVE_FAILED', `could not finalize template ${hash}: ${(error as Error).message}`)
    }
  }

  /** DELETE /templates/:hash: drops the template and every test database made from it. */
  async discard(hash: string): Promise<void> {
    const template = this.templates.get(hash)
    if (!template || template.state === 'discarded') throw notFound()
    await this.drop(template)
  }

  /** DELETE /admin/templates: forgets every template and drops what this server made. */
  async reset(): Promise<void> {
    await Promise.all([...this.templates.values()].map((template) => this.drop(template)))
    this.templates.clear()
  }

  /**
   * GET /templates/:hash/tests: a ready test database for one holder. Waits while the template is
   * still being built, and while the pool is at its cap. `abandoned` tells when the asker is gone,
   * so a database it would get goes straight back to the pool.
   */
  async testDatabase(hash: string, abandoned: () => boolean = () => false): Promise<TestDatabase> {
    const template = this.templates.get(hash)
    if (!template) throw notFound()
    if (template.state === 'discarded') throw discarded()
    if (template.state === 'initializing') {
      await within(template.finalized, this.options.finalizeTimeoutMs, () =>
        apiError(
          'E_SERVE_UNAVAILABLE',
          `template ${hash} was not finalized within ${this.options.finalizeTimeoutMs} ms (INTEGRESQL_TEMPLATE_FINALIZE_TIMEOUT_MS)`,
        ),
      )
    }
    const pool = template.pool
    if (!pool || template.state !== 'ready') throw discarded()
    const deadline = performance.now() + this.options.getTimeoutMs
    let lease: Lease
    // A database reclaimed between being handed out and reaching here was never this asker's: ask again.
    do lease = await this.acquire(template, pool, deadline, abandoned)
    while (!pool.isLeased(lease.name))
    if (abandoned()) throw apiError('E_SERVE_ABANDONED', 'client closed the request')
    const id = template.nextId++
    template.out.set(id, lease.name)
    template.idOf.set(lease.name, id)
    return { ...this.describeTemplate(template, lease.name), id }
  }

  private async acquire(
    template: ServeTemplate,
    pool: ClonePool,
    deadline: number,
    abandoned: () => boolean,
  ): Promise<Lease> {
    let timedOut = false
    const acquiring = pool.acquire()
    // A lease that arrives after its asker gave up or left is given back untouched.
    void acquiring.then(
      (lease) => {
        if ((timedOut || abandoned()) && template.pool === pool) this.giveBack(template, lease.name)
      },
      () => {},
    )
    try {
      return await within(acquiring, Math.max(0, deadline - performance.now()), () => {
        timedOut = true
        return apiError(
          'E_SERVE_UNAVAILABLE',
          `no test database of template ${template.hash} became free within ${this.options.getTimeoutMs} ms; give them back (unlock or recreate) or raise INTEGRESQL_TEST_MAX_POOL_SIZE`,
        )
      })
    } catch (error) {
      if (isApiError(error)) throw error
      throw (template.state as string) === 'discarded'
        ? discarded()
        : apiError('E_SERVE_FAILED', (error as Error).message)
    }
  }

  /**
   * POST …/tests/:id/unlock: back untouched, reused as it is. For a checkout no longer out (given
   * back, recreated or reclaimed already) nothing happens: a retry gets the same 204.
   */
  unlock(hash: string, id: number): void {
    const back = this.checkIn(hash, id)
    if (back) this.giveBack(back.template, back.name)
  }

  /**
   * POST …/tests/:id/recreate (and the deprecated DELETE …/tests/:id): back dirty; dropped and
   * replaced by a fresh clone in the background. A no-op for a checkout no longer out, as unlock.
   */
  recreate(hash: string, id: number): void {
    const back = this.checkIn(hash, id)
    back?.template.pool?.release(back.name)
  }

  /** Each finalized template's pool figures: ready, leased, created, waited, reclaimed, … */
  stats(): { hash: string; pool: PoolStats }[] {
    return [...this.templates.values()].flatMap((t) =>
      t.pool ? [{ hash: t.hash, pool: t.pool.stats() }] : [],
    )
  }

  /** Drops every test database and the templates' build copies; finalized templates stay for reuse. */
  async close(): Promise<void> {
    await Promise.all(
      [...this.templates.values()].map(async (template) => {
        template.state = 'discarded'
        template.settle(discarded())
        await template.pool?.close()
        if (!template.pool) {
          await dropDatabases(this.options.adminUrl, [template.buildName]).catch(() => {})
        }
      }),
    )
    this.templates.clear()
  }

  private get owner(): string {
    return decodeURIComponent(this.app.username)
  }

  private track(hash: string, buildName: string, finalName: string): ServeTemplate {
    let settle!: (error?: ApiError) => void
    const finalized = new Promise<void>((resolve, reject) => {
      settle = (error) => (error ? reject(error) : resolve())
    })
    finalized.catch(() => {})
    const template: ServeTemplate = {
      hash,
      buildName,
      finalName,
      state: 'initializing',
      finalized,
      settle,
      out: new Map(),
      idOf: new Map(),
      nextId: 0,
    }
    this.templates.set(hash, template)
    return template
  }

  private forget(template: ServeTemplate, error: ApiError): void {
    template.state = 'discarded'
    template.settle(error)
    if (this.templates.get(template.hash) === template) this.templates.delete(template.hash)
  }

  private async open(template: ServeTemplate): Promise<void> {
    if (template.state !== 'initializing') return
    this.serverVersionNum ??= readServerVersionNum(this.options.adminUrl)
    template.pool = new ClonePool({
      adminUrl: this.options.adminUrl,
      appUrl: this.options.appUrl,
      template: template.finalName,
      runId: this.options.runId,
      serverVersionNum: await this.serverVersionNum,
      size: this.options.poolSize,
      max: this.options.poolMax,
      parallel: this.options.cleaningWorkers,
      // Like IntegreSQL: each checkout keeps one more ready, up to the max.
      grow: true,
      // A dirty database's replacement is ready after one CREATE, not a DROP and a CREATE.
      replaceWhileDropping: true,
      // Clients connect on their own; a pool that keeps up matters more than a warm first connection.
      prewarm: false,
      localServer: this.options.localServer,
      sessionsThread: true,
      reclaim: this.options.forceReturn ? undefined : (name) => this.reclaimed(template, name),
      // No logFile: a lease's log offset (a stat of the server log per checkout) is for a JS test's
      // failure report; an HTTP client never sees it.
      nextIndex: () => ++cloneIndex,
    })
    template.state = 'ready'
    template.settle()
  }

  /** The pool took a never-returned database back: its checkout is over, whatever its holder sends later. */
  private reclaimed(template: ServeTemplate, name: string): void {
    const id = template.idOf.get(name)
    if (id === undefined) return
    template.idOf.delete(name)
    template.out.delete(id)
  }

  private giveBack(template: ServeTemplate, name: string): void {
    try {
      template.pool?.giveBack(name)
    } catch {
      // The pool closed (template discarded) meanwhile; it dropped the database itself.
    }
  }

  private async drop(template: ServeTemplate): Promise<void> {
    this.forget(template, discarded())
    await template.finalizing?.catch(() => {})
    await template.pool?.close()
    await dropDatabases(
      this.options.adminUrl,
      template.pool ? [template.buildName, template.finalName] : [template.buildName],
    )
  }

  /**
   * Ends checkout `id`: the database it named, or undefined when that checkout is over already.
   * An id never handed out is a 404, as IntegreSQL answers an unknown one.
   */
  private checkIn(hash: string, id: number): { template: ServeTemplate; name: string } | undefined {
    const template = this.templates.get(hash)
    if (!template || template.state === 'discarded') throw notFound()
    if (id < 0 || id >= template.nextId) throw apiError('E_SERVE_NOT_FOUND', 'test database not found')
    const name = template.out.get(id)
    if (name === undefined) return undefined
    template.out.delete(id)
    template.idOf.delete(name)
    return { template, name }
  }

  private describeTemplate(template: ServeTemplate, database: string): TemplateDatabase {
    const { additionalParams, ...server } = this.server
    // IntegreSQL's field order: the parameters after the database.
    const config = { ...server, database, ...(additionalParams ? { additionalParams } : {}) }
    return { database: { templateHash: template.hash, config } }
  }
}
