import { execFile, spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { promisify } from 'node:util'
import { cacheDir } from '../engine/cache-dir.js'
import type { Engine } from '../engine/types.js'
import { PgrigError } from '../errors.js'
import { diskFull, isDiskFull } from './disk-full.js'
import { quoteIdentifier } from './sql-quote.js'
import { markTemplate, usableTemplate } from './template-check.js'
import type { RunAs } from './os-user.js'
import { logTail, serverEnv, spawnPostmaster, stopPostmaster, waitReady } from './postmaster.js'
import { claimSpare, refillSpares } from './spare-datadirs.js'
import { pruneCache, touchTemplate } from './tmpfs-cache.js'
import { untaggedEnv } from './process-tree.js'

const run = promisify(execFile)

/** Bump when the template's layout changes, so old caches are not reused (4: marked complete, template-check.ts). */
const TEMPLATE_FORMAT = 4

export interface TemplateInput {
  engine: Engine
  locale: string
  encoding: string
  dataChecksums: boolean
  superuser: string
  user: string
  database: string
  runAs: RunAs | undefined
}

function templateKey(input: TemplateInput): string {
  const { engine, locale, encoding, dataChecksums, superuser, user, database, runAs } = input
  const shape = {
    TEMPLATE_FORMAT,
    bin: engine.binDir,
    v: engine.version,
    locale,
    encoding,
    dataChecksums,
    uid: runAs?.uid,
  }
  return createHash('sha256')
    .update(JSON.stringify({ ...shape, superuser, user, database }))
    .digest('hex')
    .slice(0, 16)
}

function chownTo(target: string, runAs: RunAs | undefined): void {
  if (runAs) fs.chownSync(target, runAs.uid, runAs.gid)
}

const building = new Map<string, Promise<string>>()

/**
 * A stopped, initdb'd data dir with the app role and database already made, cached per engine and
 * shape. initdb costs most of a second; copying this costs tens of milliseconds. The template lives
 * in the disk cache (survives reboots) and on tmpfs (copies from there are several times faster; a
 * build there avoids the disk, where initdb alone takes ~1.5 s on this kind of machine).
 */
/** Told where a template build runs its postmaster, so an owner's death can take that down too. */
export interface BuildWatch {
  onBuild(dataDir: string): void
  onBuilt(dataDir: string): void
}

export async function dataDirTemplate(
  input: TemplateInput,
  tmpfs?: string,
  watch?: BuildWatch,
): Promise<string> {
  const name = `${input.engine.version}-${templateKey(input)}`
  const onDisk = path.join(cacheDir(), 'datadirs', name)
  const onTmpfs = tmpfs && path.join(tmpfs, 'templates', name)
  // A damaged template (see template-check.ts) is removed here and made again below.
  const ready = (dir: string | undefined) =>
    dir !== undefined && fs.existsSync(path.join(dir, 'PG_VERSION')) && usableTemplate(dir)
  if (ready(onTmpfs)) {
    touchTemplate(onTmpfs!)
    if (!ready(onDisk)) copyInBackground(onTmpfs!, onDisk, input.runAs)
    return onTmpfs!
  }
  // A template is about to be added to the tmpfs: make room for it first (size cap, LRU).
  if (tmpfs) pruneCache(tmpfs, { keep: name })
  if (ready(onDisk)) {
    if (onTmpfs) copyInBackground(onDisk, onTmpfs, input.runAs)
    return onDisk
  }
  const target = onTmpfs ?? onDisk
  let pending = building.get(target)
  if (!pending) {
    pending = buildTemplate(input, target, watch)
    building.set(target, pending)
    pending.catch(() => building.delete(target))
  }
  await pending
  if (target !== onDisk) copyInBackground(target, onDisk, input.runAs)
  return target
}

const copying = new Set<string>()

/**
 * Copies a template by a detached shell, off this start's critical path; it finishes even when
 * this process exits first (`pgrig up` returns at once).
 */
function copyInBackground(source: string, target: string, runAs: RunAs | undefined): void {
  if (copying.has(target)) return
  copying.add(target)
  const parent = path.dirname(target)
  fs.mkdirSync(parent, { recursive: true, mode: 0o755 })
  fs.chmodSync(parent, 0o755)
  chownTo(parent, runAs)
  const temp = `${target}.tmp-${randomBytes(4).toString('hex')}`
  // mv onto an existing folder fails, so a copy someone else finished first wins untouched.
  const script = 'cp -a "$1" "$2" && mv -T "$2" "$3" 2>/dev/null || rm -rf "$2"'
  const child = spawn('sh', ['-c', script, 'copy-template', source, temp, target], {
    detached: true,
    // A cache job that outlives the command it was started under: not stopped with that command's tree.
    env: untaggedEnv(),
    stdio: 'ignore',
    ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
  })
  child.on('error', () => {})
  child.unref()
}

async function buildTemplate(input: TemplateInput, finalDir: string, watch?: BuildWatch): Promise<string> {
  const parent = path.dirname(finalDir)
  fs.mkdirSync(parent, { recursive: true, mode: 0o755 })
  const work = fs.mkdtempSync(path.join(parent, '.build-'))
  fs.chmodSync(work, 0o755)
  const dataDir = path.join(work, 'data')
  watch?.onBuild(dataDir)
  const socketDir = path.join(work, 's')
  fs.mkdirSync(socketDir, { mode: 0o700 })
  chownTo(work, input.runAs)
  chownTo(socketDir, input.runAs)
  try {
    await initdb(input, dataDir)
    fs.appendFileSync(path.join(dataDir, 'postgresql.conf'), "\ninclude_if_exists = 'pgrig.conf'\n")
    const segment = await createAppRoleAndDatabase(input, dataDir, socketDir, path.join(work, 'build.log'))
    trimWal(dataDir, segment)
    markTemplate(dataDir, input.runAs)
    fs.rmSync(socketDir, { recursive: true, force: true })
    fs.rmSync(path.join(work, 'build.log'), { force: true })
    try {
      fs.renameSync(dataDir, finalDir)
    } catch (error) {
      // Another process built the same template first; theirs is as good as ours.
      if (!fs.existsSync(path.join(finalDir, 'PG_VERSION'))) throw error
    }
    return finalDir
  } finally {
    fs.rmSync(work, { recursive: true, force: true })
    watch?.onBuilt(dataDir)
  }
}

/**
 * initdb leaves several recycled WAL segments ahead of the one in use; every copy of the template
 * would carry them. After a clean shutdown only the segment holding the shutdown checkpoint is
 * read (the one in use at the end, or the next if the record crossed into it): the server makes
 * new segments when it needs them.
 */
function trimWal(dataDir: string, current: string): void {
  const walDir = path.join(dataDir, 'pg_wal')
  const segments = fs
    .readdirSync(walDir)
    .filter((name) => /^[0-9A-F]{24}$/.test(name))
    .sort()
  const keep = new Set(segments.filter((name) => name >= current).slice(0, 2))
  for (const name of segments) if (!keep.has(name)) fs.rmSync(path.join(walDir, name))
}

async function initdb(input: TemplateInput, dataDir: string): Promise<void> {
  const args = [
    '-D',
    dataDir,
    '-U',
    input.superuser,
    '--no-sync',
    '--no-instructions',
    '-A',
    'trust',
    '-E',
    input.encoding,
    '--locale',
    input.locale,
    // Small WAL segments keep the data dir, and so every copy of it, small.
    '--wal-segsize=1',
  ]
  if (input.dataChecksums) args.push('--data-checksums')
  else if (input.engine.major >= 18) args.push('--no-data-checksums')
  try {
    await run(path.join(input.engine.binDir, 'initdb'), args, {
      env: serverEnv(),
      ...(input.runAs ? { uid: input.runAs.uid, gid: input.runAs.gid } : {}),
    })
  } catch (error) {
    const stderr = String((error as { stderr?: string }).stderr ?? error)
      .trim()
      .split('\n')
    if (isDiskFull(error))
      throw diskFull(`initdb of PostgreSQL ${input.engine.version} into ${dataDir}`, dataDir, error)
    const reason = stderr.find((line) => /error|invalid|could not/i.test(line)) ?? stderr[stderr.length - 1]
    throw new PgrigError(
      'E_INITDB_FAILED',
      `initdb of PostgreSQL ${input.engine.version} failed: ${reason}; check locale "${input.locale}" and encoding "${input.encoding}" exist on this machine`,
      { cause: error },
    )
  }
}

async function createAppRoleAndDatabase(
  input: TemplateInput,
  dataDir: string,
  socketDir: string,
  logFile: string,
): Promise<string> {
  const port = 40000 + (randomBytes(2).readUInt16BE() % 20000)
  fs.writeFileSync(
    path.join(dataDir, 'pgrig.conf'),
    `listen_addresses = ''\nport = ${port}\nunix_socket_directories = '${socketDir}'\nfsync = off\n`,
  )
  chownTo(path.join(dataDir, 'pgrig.conf'), input.runAs)
  const child = spawnPostmaster({ binDir: input.engine.binDir, dataDir, logFile, runAs: input.runAs })
  try {
    const client = await waitReady({
      child,
      socketDir,
      port,
      user: input.superuser,
      logFile,
      timeoutMs: 60_000,
      label: `(template for ${input.engine.version})`,
    })
    try {
      const user = quoteIdentifier(input.user)
      await client.query(`CREATE ROLE ${user} LOGIN`)
      await client.query(`CREATE DATABASE ${quoteIdentifier(input.database)} OWNER ${user}`)
      const { rows } = await client.query<{ segment: string }>(
        'SELECT pg_walfile_name(pg_current_wal_insert_lsn()) AS segment',
      )
      return rows[0]!.segment
    } finally {
      await client.end()
    }
  } catch (error) {
    if (isDiskFull(error) || /No space left on device/.test(logTail(logFile, 30)))
      throw diskFull(`preparing the data dir template in ${dataDir}`, dataDir, error)
    if (error instanceof PgrigError) throw error
    throw new PgrigError(
      'E_INITDB_FAILED',
      `preparing the data dir template failed: ${(error as Error).message}\n${logTail(logFile)}`,
      {
        cause: error,
      },
    )
  } finally {
    if (child.pid) await stopPostmaster(child.pid)
  }
}

/**
 * Puts a copy of the template at `target`, as the server user so ownership and modes come out
 * right: a spare made ahead of time when the template is on the same tmpfs, else a fresh copy.
 * Returns what tops the spares up again, for the caller to run once its server answers: a copy of
 * ~33 MB beside a starting server took CPU from it on a 2-core machine.
 */
export async function copyTemplate(
  template: string,
  target: string,
  runAs: RunAs | undefined,
  options: { spares?: boolean } = {},
): Promise<() => void> {
  fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o755 })
  chownTo(path.dirname(target), runAs)
  if (!(options.spares && claimSpare(template, target))) {
    try {
      await run('cp', ['-a', template, target], runAs ? { uid: runAs.uid, gid: runAs.gid } : {})
    } catch (error) {
      fs.rmSync(target, { recursive: true, force: true })
      if (isDiskFull(error)) throw diskFull(`copying the data dir template to ${target}`, target, error)
      const first =
        String((error as { stderr?: string }).stderr ?? '').split('\n')[0] || (error as Error).message
      throw new PgrigError(
        'E_INITDB_FAILED',
        `copying the data dir template ${template} to ${target} failed: ${first}; pgrig cache clean drops the cached templates`,
        { cause: error },
      )
    }
  }
  return options.spares ? () => refillSpares(template, runAs) : () => {}
}
