import path from 'node:path'
import { PgrigError } from '../errors.js'
import { describeIssues } from './resolve.js'
import { schemas, type ReadyCheck, type ServiceOptions } from './schema.js'

/** One service with every option decided; `{port}` and `{dir}` are filled in when it starts. */
export interface ServiceSpec {
  name: string
  command: string[]
  /** Undefined: ready once started (a `once` job: once it exited 0). */
  ready: ReadyCheck | undefined
  env: Record<string, string>
  /** Services that must be ready (or, for `once` jobs, done) before this one starts. */
  after: string[]
  once: boolean
  /** How long readiness (or a `once` job's run) may take, in ms. */
  timeout: number
  /** Where the command runs: the config file's folder. */
  cwd: string
}

export const DEFAULT_SERVICE_TIMEOUT = 30_000

const invalid = (message: string) => new PgrigError('E_CONFIG_INVALID', message)

/** Checks the `services` of a config (or of a test runner's options) and returns them in `after` order. */
export function resolveServices(
  services: Record<string, ServiceOptions> | undefined,
  baseDir = process.cwd(),
  source = 'services',
): ServiceSpec[] {
  if (services === undefined) return []
  const result = schemas().configSchema.shape.services.safeParse(services)
  if (!result.success) {
    const line = describeIssues(source, result.error)
    throw invalid(line.replace(`${source}: `, `${source}.`))
  }
  const parsed = result.data ?? {}
  const names = Object.keys(parsed)
  const specs = new Map<string, ServiceSpec>()
  for (const [name, options] of Object.entries(parsed)) {
    const where = `${source}.${name}`
    const after = [...new Set(options.after ?? [])]
    const unknown = after.find((other) => !(other in parsed))
    if (unknown !== undefined) {
      throw invalid(
        `${where}.after names "${unknown}", which is not a service here (the services are: ${names.join(', ')}); fix the name or add that service`,
      )
    }
    if (options.once && options.ready) {
      throw invalid(
        `${where}: a once job is ready when it exits with code 0, so ready does not apply; drop ready or once`,
      )
    }
    specs.set(name, {
      name,
      command: options.command,
      ready: options.ready,
      env: options.env ?? {},
      after,
      once: options.once ?? false,
      timeout: options.timeout ?? DEFAULT_SERVICE_TIMEOUT,
      cwd: path.resolve(baseDir),
    })
  }
  return inAfterOrder(specs, source)
}

/** Every service after the ones it names; a cycle is refused with the whole chain. */
function inAfterOrder(specs: Map<string, ServiceSpec>, source: string): ServiceSpec[] {
  const ordered: ServiceSpec[] = []
  const done = new Set<string>()
  const visit = (name: string, chain: string[]) => {
    if (done.has(name)) return
    if (chain.includes(name)) {
      const cycle = [...chain.slice(chain.indexOf(name)), name].join(' -> ')
      throw invalid(
        `${source}: circular after: ${cycle}; no service of a cycle could ever start, remove one of those after entries`,
      )
    }
    const spec = specs.get(name)!
    for (const other of spec.after) visit(other, [...chain, name])
    done.add(name)
    ordered.push(spec)
  }
  for (const name of specs.keys()) visit(name, [])
  return ordered
}
