import type { Command } from 'commander'
import { loadConfig } from '../../config/load.js'
import { resolveEngine } from '../../engine/index.js'
import { PgrigError } from '../../errors.js'
import { ensureCacheDir } from '../../servers/safe-folder.js'

export function registerInstall(program: Command): void {
  program
    .command('install')
    .description('fetch PostgreSQL majors into the cache (default: the versions in the config)')
    .argument('[versions...]', 'majors or versions, e.g. 15 16 17.6')
    .action(async (versions: string[]) => {
      if (versions.length === 0) versions = ((await loadConfig())?.config.versions ?? []).map(String)
      if (versions.length === 0) {
        throw new PgrigError(
          'E_USAGE',
          'name the majors to install (pgrig install 15 16) or list versions in the config',
        )
      }
      ensureCacheDir()
      for (const version of versions) {
        const engine = await resolveEngine({ engine: 'embedded', version })
        process.stderr.write(`pgrig: PostgreSQL ${engine.version} ready in ${engine.binDir}\n`)
      }
    })
}
