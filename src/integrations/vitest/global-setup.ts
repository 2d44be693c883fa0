import path from 'node:path'
import type { TestProject } from 'vitest/node'
import { startBroker } from '../../databases/broker.js'
import { startSession } from '../../databases/session.js'
import { oneLine } from '../shared.js'
import { registry } from './plugin.js'
import './provided.js'

/** Runs once in Vitest's main process; the pool outlives every worker and every watch rerun. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const options = registry().byProject.get(project) ?? registry().last ?? {}
  const session = await startSession({ cwd: project.config.root, ...options }).catch((error: unknown) => {
    throw oneLine(error)
  })
  try {
    const broker = await startBroker(session.pool, path.join(session.runDir, `broker-${process.pid}.sock`))
    project.provide('pgrig', {
      socketPath: broker.socketPath,
      isolation: options.isolation ?? 'database',
      keepFailed: options.keepFailed ?? project.vitest.config.watch,
      runId: session.runId,
      templateName: session.template.name,
    })
    return async () => {
      await broker.close()
      await session.close()
    }
  } catch (error) {
    await session.close()
    throw error
  }
}
