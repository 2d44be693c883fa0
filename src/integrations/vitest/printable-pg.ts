import { createRequire } from 'node:module'
import path from 'node:path'

interface PgModule {
  Client?: { prototype: object }
}
interface ClientLike {
  user?: string
  host?: string
  port?: number
  database?: string
}

const PATCHED = Symbol.for('pgrig.printable-pg')
const require = createRequire(import.meta.url)
let files: string[] | undefined

/** pgrig's node-postgres and the project's own, if that is another copy (resolved, never loaded). */
function pgFiles(): string[] {
  if (files) return files
  const found = new Set<string>()
  for (const from of [import.meta.url, path.join(process.cwd(), 'package.json')]) {
    try {
      found.add(createRequire(from).resolve('pg'))
    } catch {
      // no pg there: nothing to patch
    }
  }
  return (files = [...found])
}

/**
 * Vitest prints an error's own properties, hidden ones included, so a node-postgres client hung on
 * an error (pg-pool's idle-client errors carry `err.client`) would print its password and a few
 * hundred lines of internals. A client prints as what it connects to instead: a `toJSON`, which
 * Vitest's serializer prefers, on each copy of `pg` already loaded (this loads none). Called when
 * the plugin loads, when its server is up, and as each test begins.
 */
export function printablePgClients(): void {
  for (const file of pgFiles()) {
    const pg = require.cache[file]?.exports as PgModule | undefined
    if (pg?.Client) patch(pg.Client.prototype)
  }
}

function patch(proto: object & { [PATCHED]?: true }): void {
  if (proto[PATCHED] || 'toJSON' in proto) return
  Object.defineProperty(proto, PATCHED, { value: true })
  Object.defineProperty(proto, 'toJSON', {
    configurable: true,
    writable: true,
    value(this: ClientLike) {
      return { user: this.user, host: this.host, port: this.port, database: this.database }
    },
  })
}
