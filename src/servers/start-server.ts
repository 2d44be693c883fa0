import fs from 'node:fs'
import path from 'node:path'
import { resolveServer, type ServerSpec } from '../config/resolve.js'
import type { ServerOptions } from '../config/schema.js'
import { resolveEngine } from '../engine/index.js'
import { firstBlockedFolder } from '../engine/reachable.js'
import { PgrigError } from '../errors.js'
import { quoteIdentifier, quoteLiteral } from './sql-quote.js'
import { ensureCertificates, type CertFiles } from './certs.js'
import { connectionEnv } from './connection-env.js'
import { copyTemplate, dataDirTemplate } from './datadir-template.js'
import { collectInitScripts, runInitScripts } from './init-scripts.js'
import { own, unprivilegedUser, type RunAs } from './os-user.js'
import { firstUnprivilegedPort, freePort, isPortFree } from './ports.js'
import { livePostmasterPid } from './process-alive.js'
import { diskFull, isDiskFull } from './disk-full.js'
import { killGroup, lastError, launch, logTail, type Launched } from './postmaster.js'
import { joinedRun, type Run } from './run.js'
import { ensureTmpfsRoot, runsRoot, tmpfsRoot } from './run-dir.js'
import { renderHba } from './server-config.js'
import { buildUrl, type ServerInfo } from './server-info.js'
import { StartedServer, type ServerContext } from './started-server.js'
import { generatePassword } from './password.js'
import { passwordVerifier } from './password-verifier.js'
import { assertSafeCache } from './safe-folder.js'

export interface LifecycleOptions {
  /** Keep the server running after this process exits (what `pgrig up` does). */
  detached?: boolean
  /** The run to start in; by default the process's own run (or a new detached one). */
  run?: Run
  /** Names already used by other runs, which a default name should step around. */
  takenNames?: Set<string>
  quiet?: boolean
}

export type StartServerOptions = ServerOptions & LifecycleOptions

export { StartedServer } from './started-server.js'

/** Starts one PostgreSQL server and returns once it answers a real connection. */
export async function startServer(options: StartServerOptions = {}): Promise<StartedServer> {
  const { detached, run, takenNames, quiet, ...serverOptions } = options
  const spec = resolveServer(serverOptions)
  return startFromSpec(spec, {
    detached,
    run,
    takenNames,
    quiet,
    explicitName: serverOptions.name !== undefined,
  })
}

export interface StartFromSpecOptions extends LifecycleOptions {
  explicitName?: boolean
}

export async function startFromSpec(
  spec: ServerSpec,
  options: StartFromSpecOptions = {},
): Promise<StartedServer> {
  if (spec.engine === 'external') {
    throw new PgrigError(
      'E_EXTERNAL_SERVER',
      `server ${spec.name} is external (${spec.url ? 'url given' : 'no url'}); pgrig does not start external servers, use connectExternal()`,
    )
  }
  // Everything a user can get wrong is checked before anything starts.
  const initScripts = collectInitScripts(spec.initSql)
  if (spec.port !== 0 && spec.port < firstUnprivilegedPort()) {
    // PostgreSQL never runs as root (pgrig drops to an unprivileged user), so it cannot bind these.
    throw new PgrigError(
      'E_PORT_IN_USE',
      `port ${spec.port} is a privileged port (below ${firstUnprivilegedPort()}) and PostgreSQL runs unprivileged, so server ${spec.name} cannot listen there; pick a --port from ${firstUnprivilegedPort()} to 65535 or leave it out for a free one`,
    )
  }
  if (spec.port !== 0 && !(await isPortFree(spec.host, spec.port))) throw portTaken(spec)
  const runAs = unprivilegedUser()
  if (runAs) await assertReachable(path.dirname(runsRoot()), runAs)
  const tmpfsBase = spec.tmpfs ? tmpfsRoot() : undefined
  if (tmpfsBase) ensureTmpfsRoot(tmpfsBase)
  assertSafeCache(runAs)
  const engine = await resolveEngine(
    { engine: spec.engine, version: spec.version },
    { runAs, ...(options.quiet !== undefined ? { quiet: options.quiet } : {}) },
  )
  const run = await joinedRun(options)
  const name = run.claimName(spec.name, options.explicitName ?? true, options.takenNames, true)
  if (!name) {
    throw new PgrigError(
      'E_NAME_TAKEN',
      `a server named ${spec.name} is already running; stop it (pgrig down ${spec.name}) or choose another name`,
    )
  }
  spec = { ...spec, name }
  const serverDir = path.join(run.dir, name)
  const tmpfs = spec.tmpfs ? tmpfsRoot() : undefined
  const ctx: ServerContext = {
    spec,
    engine,
    runAs,
    run,
    serverDir,
    socketDir: path.join(serverDir, 'socket'),
    dataDir: tmpfs ? path.join(tmpfs, run.runId, name) : path.join(serverDir, 'data'),
    logFile: path.join(serverDir, 'postgres.log'),
    outlivesCaller: run.detached,
  }
  run.beginStart()
  let started: StartedServer
  try {
    started = await provision(ctx, initScripts)
  } catch (error) {
    // Read before the cleanup below removes the log.
    const full = isDiskFull(error) || /No space left on device/.test(logTail(ctx.logFile, 30))
    const pid = livePostmasterPid(ctx.dataDir)
    if (pid) await killGroup(pid)
    fs.rmSync(ctx.dataDir, { recursive: true, force: true, maxRetries: 5 })
    run.releaseName(name)
    run.endStart()
    if (!options.run) run.closeIfEmpty()
    if (full) {
      const where = (error as { path?: string }).path ?? ctx.dataDir
      throw diskFull(`starting server ${name}`, where, error)
    }
    throw error
  }
  run.endStart()
  return started
}

/** Sockets and logs live under the run root, which the server user must be able to reach. */
async function assertReachable(dir: string, runAs: RunAs): Promise<void> {
  const blocked = await firstBlockedFolder(dir, runAs)
  if (!blocked) return
  const mode = (fs.statSync(blocked).mode & 0o777).toString(8).padStart(4, '0')
  throw new PgrigError(
    'E_RUN_DIR_UNREACHABLE',
    `PostgreSQL runs as ${runAs.name}, who cannot enter ${blocked} (mode ${mode}), where pgrig keeps sockets and logs; set PGRIG_RUN_ROOT to a folder every user can traverse (e.g. /tmp) or chmod o+x ${blocked}`,
  )
}

function portTaken(spec: ServerSpec): PgrigError {
  return new PgrigError(
    'E_PORT_IN_USE',
    `port ${spec.port} on ${spec.host} is already in use, so server ${spec.name} cannot listen there; pick another --port or leave it out for a free one`,
  )
}

async function provision(ctx: ServerContext, initScripts: string[]): Promise<StartedServer> {
  const { spec, engine, runAs } = ctx
  const tmpfs = spec.tmpfs ? tmpfsRoot() : undefined
  fs.mkdirSync(ctx.serverDir, { recursive: true, mode: 0o755 })
  fs.mkdirSync(ctx.socketDir, { mode: 0o700 })
  own(ctx.socketDir, runAs)
  const wantsTls = spec.tls !== 'off'
  const password = spec.password ?? generatePassword()
  const superPassword = spec.superuser.password ?? generatePassword()
  const encryption =
    String(spec.settings.password_encryption ?? spec.auth) === 'md5' ? 'md5' : 'scram-sha-256'
  // Hashed on the thread pool while the data dir is copied and the server starts.
  const verifiers = Promise.all([
    passwordVerifier(spec.superuser.user, superPassword, encryption),
    passwordVerifier(spec.user, password, encryption),
  ])
  verifiers.catch(() => {})
  const [template, certs] = await Promise.all([
    dataDirTemplate(
      {
        engine,
        locale: spec.locale,
        encoding: spec.encoding,
        dataChecksums: spec.dataChecksums,
        superuser: spec.superuser.user,
        user: spec.user,
        database: spec.database,
        runAs,
      },
      tmpfs,
      { onBuild: (dir) => ctx.run.watchBuild(dir), onBuilt: (dir) => ctx.run.unwatchBuild(dir) },
    ),
    wantsTls ? ensureCertificates(spec.certDir ?? ctx.run.certDir, { clientUser: spec.user }) : undefined,
  ])
  // Spares are renamed into place, so only a template on the data dir's own tmpfs can have them.
  const refillSpares = await copyTemplate(template, ctx.dataDir, runAs, {
    spares: tmpfs !== undefined && template.startsWith(tmpfs),
  })
  if (certs) installServerCerts(ctx, certs)
  fs.writeFileSync(path.join(ctx.dataDir, 'pg_hba.conf'), renderHba(spec))
  own(path.join(ctx.dataDir, 'pg_hba.conf'), runAs)

  let port = spec.port || (await freePort(spec.host))
  let launched: Launched | undefined
  for (let attempt = 1; !launched; attempt++) {
    try {
      const spawnedOn = port
      launched = await launch(ctx, port, (pid) => ctx.run.record({ ...placeholder(ctx, spawnedOn), pid }))
    } catch (error) {
      // A free port can be taken between our probe and the server's bind; try another one.
      const raced =
        spec.port === 0 && attempt < 4 && /already in use|could not bind/i.test(lastError(ctx.logFile))
      if (!raced) {
        if (spec.port !== 0 && /already in use/i.test(lastError(ctx.logFile))) throw portTaken(spec)
        throw error
      }
      port = await freePort(spec.host)
    }
  }
  const { child, pid, client } = launched
  try {
    const [superVerifier, userVerifier] = await verifiers
    // One round trip: the simple query protocol runs both statements in one implicit transaction.
    await client.query(
      `ALTER ROLE ${quoteIdentifier(spec.superuser.user)} PASSWORD ${quoteLiteral(superVerifier)}; ` +
        `ALTER ROLE ${quoteIdentifier(spec.user)} PASSWORD ${quoteLiteral(userVerifier)}`,
    )
  } finally {
    refillSpares()
    await client.end()
  }
  const info = describe(ctx, { port, pid, password, superPassword, certs })
  ctx.run.record(info)
  if (initScripts.length) {
    await runInitScripts(
      initScripts,
      {
        socketDir: ctx.socketDir,
        port,
        superuser: { user: spec.superuser.user, password: superPassword },
        app: { user: spec.user, password },
        as: spec.initSqlAs,
        server: { engine: info.engine, version: info.version },
        database: spec.database,
        env: connectionEnv([info]),
      },
      spec.name,
    )
  }
  return new StartedServer(info, child, ctx)
}

/** PostgreSQL only reads a key owned by its own user with a strict mode, so the server gets its own copies. */
function installServerCerts(ctx: ServerContext, certs: CertFiles): void {
  const copies: [string, string, number][] = [
    [certs.serverCertFile, 'server.crt', 0o644],
    [certs.serverKeyFile, 'server.key', 0o600],
    [certs.caFile, 'ca.crt', 0o644],
  ]
  for (const [from, to, mode] of copies) {
    const target = path.join(ctx.dataDir, to)
    fs.copyFileSync(from, target)
    fs.chmodSync(target, mode)
    own(target, ctx.runAs)
  }
}

function placeholder(ctx: ServerContext, port: number): ServerInfo {
  return describe(ctx, { port, pid: null, password: '', superPassword: '', certs: undefined })
}

function describe(
  ctx: ServerContext,
  parts: {
    port: number
    pid: number | null
    password: string
    superPassword: string
    certs: CertFiles | undefined
  },
): ServerInfo {
  const { spec } = ctx
  const host = spec.host
  const tls = parts.certs
    ? {
        mode: spec.tls as 'on' | 'required',
        sslmode: 'verify-full' as const,
        caFile: parts.certs.caFile,
        certFile: parts.certs.clientCertFile,
        keyFile: parts.certs.clientKeyFile,
      }
    : null
  // Stated either way: without it Go's lib/pq and JDBC-era defaults ask for TLS (`require`).
  const params: Record<string, string> = tls
    ? { sslmode: 'verify-full', sslrootcert: tls.caFile }
    : { sslmode: 'disable' }
  if (tls && (spec.clientCert !== 'off' || spec.auth === 'cert')) {
    params.sslcert = tls.certFile
    params.sslkey = tls.keyFile
  }
  const url = (user: string, password: string, database = spec.database) =>
    buildUrl({ user, password, host, port: parts.port, database, params })
  return {
    name: spec.name,
    version: ctx.engine.version,
    host,
    port: parts.port,
    user: spec.user,
    password: parts.password,
    database: spec.database,
    url: url(spec.user, parts.password),
    superuser: {
      user: spec.superuser.user,
      password: parts.superPassword,
      // On `postgres`, as PostgreSQL's own tools connect: admin work needs no app database.
      url: url(spec.superuser.user, parts.superPassword, 'postgres'),
    },
    tls,
    pid: parts.pid,
    dataDir: ctx.dataDir,
    logFile: ctx.logFile,
    engine: ctx.engine.kind,
    socketDir: ctx.socketDir,
    clientCert: spec.clientCert,
    auth: spec.auth,
  }
}

/** Starts several servers at once (the plain / tls / client-cert trio in parallel), all or none. */
export async function startServers(
  specs: ServerSpec[],
  options: StartFromSpecOptions = {},
): Promise<StartedServer[]> {
  const run = await joinedRun(options)
  const results = await Promise.allSettled(specs.map((spec) => startFromSpec(spec, { ...options, run })))
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
  if (failed) {
    await Promise.all(started.map((server) => server.stop()))
    run.closeIfEmpty()
    throw failed.reason
  }
  run.order(started.map((server) => server.info.name))
  return started
}
