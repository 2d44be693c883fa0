import fs from 'node:fs'
import path from 'node:path'
import type { Command } from 'commander'
import { tmpfsRoot } from '../../servers/run-dir.js'
import { cacheLimits, cleanCache, formatMb, pruneCache } from '../../servers/tmpfs-cache.js'
import { cacheDir } from '../../engine/cache-dir.js'

const total = (entries: { bytes: number }[]) => entries.reduce((sum, e) => sum + e.bytes, 0)

export function registerCache(program: Command): void {
  const cache = program
    .command('cache')
    .description('the data dir templates pgrig keeps on tmpfs (/dev/shm): prune or clean them')
  cache
    .command('prune')
    .description(
      'remove templates unused for PGRIG_TMPFS_CACHE_DAYS (7), then the least recently used past PGRIG_TMPFS_CACHE_MB (1024)',
    )
    .action(() => {
      const root = tmpfsRoot()
      if (!root) {
        process.stderr.write('pgrig: no tmpfs cache on this machine; nothing to prune\n')
        return
      }
      const { removed, kept } = pruneCache(root)
      const cap = formatMb(cacheLimits().maxBytes)
      process.stderr.write(
        `pgrig: removed ${removed.length} template(s) (${formatMb(total(removed))}); ${kept.length} left (${formatMb(total(kept))}, cap ${cap})\n`,
      )
    })
  cache
    .command('clean')
    .description('remove every data dir template and spare (tmpfs and disk); downloaded engines stay')
    .action(() => {
      const root = tmpfsRoot()
      const removed = root ? cleanCache(root) : []
      // The disk copies of the templates (downloaded engines under engines/ are kept).
      fs.rmSync(path.join(cacheDir(), 'datadirs'), { recursive: true, force: true })
      process.stderr.write(
        `pgrig: removed ${removed.length} template(s) from tmpfs (${formatMb(total(removed))}) and the disk copies\n`,
      )
    })
}
