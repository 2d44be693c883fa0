import { fileURLToPath } from 'node:url'
import type { Plugin } from 'vitest/config'
import type { PgrigOptions } from '../../databases/run-databases.js'

const REGISTRY = Symbol.for('pgrig.vitest.options')

interface Registry {
  byProject: WeakMap<object, PgrigOptions>
  last?: PgrigOptions
}

/** Shared through globalThis: the config and the globalSetup may load two copies of this module. */
export function registry(): Registry {
  const holder = globalThis as { [REGISTRY]?: Registry }
  return (holder[REGISTRY] ??= { byProject: new WeakMap() })
}

/**
 * `plugins: [pgrig({ migrations: './migrations' })]`: adds pgrig's own globalSetup, which starts
 * the server, builds the template, fills the pool and serves it to every worker.
 */
export function pgrig(options: PgrigOptions = {}): Plugin {
  registry().last = options
  return {
    name: 'pgrig',
    config: () => ({
      test: { globalSetup: [fileURLToPath(new URL('./global-setup.js', import.meta.url))] },
    }),
    configureVitest({ project }) {
      registry().byProject.set(project, options)
    },
  }
}
