import path from 'node:path'
import type { TestProject } from 'vitest/node'
import { startBroker } from '../../databases/broker.js'
import { startSession } from '../../databases/session.js'
import { startRedis, type StartedRedis } from '../../services/redis.js'
import { oneLine } from '../shared.js'
import { registry } from './plugin.js'
import './provided.js'

// Worker slots (VITEST_POOL_ID) index logical databases; 0 stays unused.
const REDIS_DATABASES = 64

/** Runs once in Vitest's main process; the pool outlives every worker and every watch rerun. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const options = registry().byProject.get(project) ?? registry().last ?? {}
  const session = await startSession({ cwd: project.config.root, ...options }).catch((error: unknown) => {
    throw oneLine(error)
  })
  let redis: StartedRedis | undefined
  try {
    redis = options.redis ? await startRedis({ databases: REDIS_DATABASES }) : undefined
    const running = redis
    const broker = await startBroker(session.pool, path.join(session.runDir, `broker-${process.pid}.sock`), {
      // Flushed at the start of each test that asks for the redis fixture.
      '/redis/flush': async (input) => running?.flush(Number(input.index)),
    })
    project.provide('pgrig', {
      socketPath: broker.socketPath,
      isolation: options.isolation ?? 'database',
      ...(options.exclude ? { exclude: options.exclude } : {}),
      keepFailed: options.keepFailed ?? project.vitest.config.watch,
      runId: session.runId,
      templateName: session.template.name,
      ...(redis ? { redis: { host: redis.host, port: redis.port, databases: redis.databases } } : {}),
    })
    return async () => {
      await broker.close()
      await Promise.all([session.close(), redis?.stop()])
    }
  } catch (error) {
    await Promise.all([session.close(), redis?.stop()])
    throw error
  }
}
