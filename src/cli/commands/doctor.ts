import fs from 'node:fs'
import path from 'node:path'
import type { Command } from 'commander'
import { unprivilegedUser } from '../../servers/os-user.js'
import { tmpfsRoot } from '../../servers/run-dir.js'
import { cacheEntries, cacheLimits, formatMb, templatesDir } from '../../servers/tmpfs-cache.js'
import { isMarked, templateDamage } from '../../servers/template-check.js'
import { cacheDir } from '../../engine/cache-dir.js'
import { ensureCacheDir } from '../../servers/safe-folder.js'
import { listInstalledEngines, resolveEngine } from '../../engine/index.js'
import { embeddedPackageName } from '../../engine/platform.js'
import { findPsql } from '../../engine/system.js'
import { checkPrograms } from '../../services/service.js'
import { findProgram } from '../../services/program.js'
import { servicesFromFlags } from '../server-flags.js'

interface Check {
  what: string
  ok: boolean
  detail: string
  /** Missing but optional: reported, does not fail the doctor. */
  optional?: boolean
}

async function attempt(what: string, fn: () => Promise<string> | string, optional = false): Promise<Check> {
  try {
    return { what, ok: true, detail: await fn() }
  } catch (error) {
    return { what, ok: false, detail: (error as Error).message, optional }
  }
}

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check what pgrig needs on this machine and say how to get what is missing')
    .action(async () => {
      const checks: Check[] = [
        await attempt('Node.js', () => {
          const major = Number(process.versions.node.split('.')[0])
          if (major < 20)
            throw new Error(`Node ${process.versions.node} is too old; install Node 20 or newer`)
          return process.versions.node
        }),
        await attempt('platform', () => embeddedPackageName()),
        await attempt('unprivileged user', () => {
          const user = unprivilegedUser()
          return user
            ? `servers run as ${user.name} (uid ${user.uid}) because pgrig runs as root`
            : 'not root: servers run as you'
        }),
        await attempt('cache', () => ensureCacheDir()),
        await attempt('embedded PostgreSQL', async () => {
          const engine = await resolveEngine({ engine: 'embedded', version: undefined }, { install: false })
          return `${engine.version} at ${engine.binDir}`
        }),
        await attempt(
          'installed majors',
          async () =>
            (await listInstalledEngines()).map((e) => `${e.version} (${e.kind})`).join(', ') ||
            'none yet: pgrig install 17',
          true,
        ),
        await attempt(
          'system PostgreSQL',
          async () => {
            const engine = await resolveEngine({ engine: 'system', version: undefined }, { install: false })
            return `${engine.version} at ${engine.binDir}`
          },
          true,
        ),
        await attempt(
          'psql (for init SQL with meta-commands)',
          () => {
            const psql = findPsql()
            if (!psql) throw new Error('not found; apt-get install postgresql-client (or brew install libpq)')
            return psql
          },
          true,
        ),
        await attempt(
          'tmpfs for data dirs',
          () => {
            const root = tmpfsRoot()
            if (!root)
              throw new Error('no writable /dev/shm with 512 MB free; data dirs go to disk (slower starts)')
            return root
          },
          true,
        ),
        await attempt(
          'templates on tmpfs',
          () => {
            const root = tmpfsRoot()
            const entries = root ? cacheEntries(root) : []
            const bytes = entries.reduce((sum, e) => sum + e.bytes, 0)
            const cap = cacheLimits().maxBytes
            const line = `${formatMb(bytes)} in ${entries.length} template(s) with their spares (cap ${formatMb(cap)})`
            if (bytes > cap) throw new Error(`${line}; pgrig cache prune makes room`)
            return line
          },
          true,
        ),
        await attempt('cached templates', () => checkTemplates()),
        ...(await serviceChecks()),
      ]
      for (const check of checks) {
        const mark = check.ok ? 'ok  ' : check.optional ? 'warn' : 'FAIL'
        process.stdout.write(`${mark}  ${check.what}: ${check.detail}\n`)
      }
      if (checks.some((c) => !c.ok && !c.optional)) process.exitCode = 1
    })
}

/**
 * Every cached data dir template a start could copy (tmpfs and disk), checked file by file against
 * the mark written when it was built; a damaged one fails the doctor, naming it.
 */
function checkTemplates(): string {
  const root = tmpfsRoot()
  const folders = [root && templatesDir(root), path.join(cacheDir(), 'datadirs')].filter(
    (dir): dir is string => Boolean(dir),
  )
  const templates = folders.flatMap((dir) => {
    try {
      return fs
        .readdirSync(dir)
        .filter((name) => !name.startsWith('.') && !name.endsWith('.spares') && !name.includes('.tmp-'))
        .map((name) => path.join(dir, name))
    } catch {
      return []
    }
  })
  const marked = templates.filter(isMarked)
  const damaged = marked.flatMap((dir) => {
    const why = templateDamage(dir, true)
    return why ? [`${dir} (${why})`] : []
  })
  const unmarked = templates.length - marked.length
  const older = unmarked
    ? `; ${unmarked} unmarked (from an older pgrig, never used: pgrig cache clean removes them)`
    : ''
  if (damaged.length) {
    throw new Error(
      `${damaged.length} of ${marked.length} damaged: ${damaged.join(', ')}; the next start rebuilds a damaged template, pgrig cache clean removes them all${older}`,
    )
  }
  return `${marked.length} checked, all whole${older}`
}

/** The programs of the config's services: a run fails at once without them. */
async function serviceChecks(): Promise<Check[]> {
  let specs: Awaited<ReturnType<typeof servicesFromFlags>>
  try {
    specs = await servicesFromFlags({})
  } catch (error) {
    return [{ what: 'pgrig.config services', ok: false, detail: (error as Error).message }]
  }
  return Promise.all(
    specs.map((spec) =>
      attempt(`service ${spec.name}`, () => {
        try {
          checkPrograms([spec])
        } catch (error) {
          throw new Error((error as Error).message.replace(`service ${spec.name}: `, ''))
        }
        return findProgram(spec.command[0]!, spec.cwd)!
      }),
    ),
  )
}
