import path from 'node:path'
import { connectionEnv } from '../../servers/connection-env.js'
import { resolveServices } from '../../config/services.js'
import { startBroker } from '../../databases/broker.js'
import { checkOptions, startRunDatabases, type PgrigOptions } from '../../databases/run-databases.js'
import type { StartedRedis } from '../../services/redis.js'
import { checkPrograms } from '../../services/service.js'
import { startServices, type StartedServices } from '../../services/services.js'
import { oneLine } from './one-line.js'
import type { PgrigProvided, ProvidedService } from './provided.js'
import { replaceEnv } from './env.js'

// Worker slots index logical databases; 0 stays unused.
const REDIS_DATABASES = 64

export interface StartedRun {
  /** What every process that runs tests needs to know (see TestLifecycle). */
  provided: PgrigProvided
  /** Stops the broker, the run's databases (and the server they started) and Redis. */
  close(): Promise<void>
}

export interface StartRunOptions {
  /** Folder migrations and seed paths are relative to, unless options.cwd says otherwise. */
  cwd?: string
  /** keepFailed when the options do not say (Vitest: on in watch mode). */
  keepFailedDefault?: boolean
}

/**
 * The run's pieces, started once in the runner's main process (Vitest's and Jest's globalSetup;
 * node:test's file process): the server and template (databases), the clone pool's broker that
 * every test process reaches over a unix socket, and Redis when asked for.
 */
export async function startRun(options: PgrigOptions, run: StartRunOptions = {}): Promise<StartedRun> {
  const started = async (): Promise<StartedRun> => {
    const mode = checkOptions(options)
    const serviceSpecs = resolveServices(options.services, options.cwd ?? run.cwd)
    // A missing program is named before the server starts.
    checkPrograms(serviceSpecs)
    const databases = await startRunDatabases({ ...(run.cwd ? { cwd: run.cwd } : {}), ...options })
    const { template } = databases
    // Names the key, so a template that should have been rebuilt is seen at once.
    if (!template.built)
      console.error(`pgrig: template reused: ${template.name} (key covers ${template.key})`)
    let redis: StartedRedis | undefined
    let services: StartedServices | undefined
    let restoreEnv: (() => void) | undefined
    try {
      // Loaded only when asked for: the run's main process pays for every module it imports.
      redis = options.redis
        ? await (await import('../../services/redis.js')).startRedis({ databases: REDIS_DATABASES })
        : undefined
      // After the server: a service may need its DATABASE_URL.
      services = await startServices(serviceSpecs, { processEnv: connectionEnv([databases.server]) })
      const startedServices = services
      // Set here too, so runner processes started from this one (Jest's workers) inherit it.
      restoreEnv = replaceEnv(services.env)
      const running = redis
      const broker = await startBroker(
        databases.pool,
        path.join(databases.runDir, `broker-${process.pid}.sock`),
        {
          // Flushed at the start of each test that uses Redis.
          '/redis/flush': async (input) => running?.flush(Number(input.index)),
        },
      )
      const provided: PgrigProvided = {
        socketPath: broker.socketPath,
        isolation: mode.name as PgrigProvided['isolation'],
        keepFailed: options.keepFailed ?? run.keepFailedDefault ?? false,
        runId: databases.runId,
        templateName: databases.template.name,
        ...(options.exclude ? { exclude: options.exclude } : {}),
        ...(redis ? { redis: { host: redis.host, port: redis.port, databases: redis.databases } } : {}),
        ...(services.list.length ? { services: providedServices(services) } : {}),
      }
      return {
        provided,
        close: async () => {
          await broker.close()
          restoreEnv?.()
          await Promise.all([databases.close(), running?.stop(), startedServices.stop()])
        },
      }
    } catch (error) {
      restoreEnv?.()
      await Promise.all([databases.close(), redis?.stop(), services?.stop()])
      throw error
    }
  }
  return started().catch((error: unknown) => {
    throw oneLine(error)
  })
}

function providedServices(services: StartedServices): Record<string, ProvidedService> {
  return Object.fromEntries(
    services.list.map((service) => [
      service.name,
      { port: service.port, dir: service.dir, env: service.env },
    ]),
  )
}
