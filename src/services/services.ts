import { joinedRun } from '../servers/run.js'
import type { ServiceSpec } from '../config/services.js'
import { checkPrograms, launchService, type ServiceContext, type StartedService } from './service.js'

/** The services of a run, started in `after` order; `stop()` or `await using` stops them all. */
export class StartedServices implements AsyncDisposable {
  private stopping: Promise<void> | undefined

  /** @internal */
  constructor(readonly list: StartedService[]) {}

  get(name: string): StartedService | undefined {
    return this.list.find((service) => service.name === name)
  }

  /** Every service's `env`, in start order: what `pgrig run` exports to the command. */
  get env(): Record<string, string> {
    return Object.assign({}, ...this.list.map((service) => service.env)) as Record<string, string>
  }

  stop(): Promise<void> {
    this.stopping ??= Promise.all(this.list.map((service) => service.stop())).then(() => {})
    return this.stopping
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop()
  }
}

/**
 * Starts services (already in `after` order, as `resolveServices` returns them), each as soon as
 * the ones it comes after are ready, and each seeing their `env`. All or none: when one fails, the
 * others are stopped and its one line is thrown.
 */
export async function startServices(
  specs: ServiceSpec[],
  context: ServiceContext = {},
): Promise<StartedServices> {
  if (specs.length === 0) return new StartedServices([])
  checkPrograms(specs, context.processEnv)
  const run = await joinedRun({ run: context.run })
  const starting = new Map<string, Promise<StartedService>>()
  /** What a service and everything it comes after export: what a service after it sees. */
  const exported = new Map<string, Record<string, string>>()
  for (const spec of specs) {
    starting.set(
      spec.name,
      (async () => {
        await Promise.all(spec.after.map((name) => starting.get(name)!))
        const inherited = Object.assign({}, ...spec.after.map((name) => exported.get(name))) as Record<
          string,
          string
        >
        const service = await launchService(spec, {
          run,
          processEnv: { ...context.processEnv, ...inherited },
        })
        exported.set(spec.name, { ...inherited, ...service.env })
        return service
      })(),
    )
  }
  const results = await Promise.allSettled(starting.values())
  const started = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')
  if (failed) {
    await Promise.all(started.map((service) => service.stop()))
    if (!context.run) run.closeIfEmpty()
    throw failed.reason
  }
  return new StartedServices(started)
}
