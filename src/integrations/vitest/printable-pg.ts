import { createRequire } from 'node:module'
import path from 'node:path'

interface PgModule {
  Client: { prototype: object }
}
interface ClientLike {
  user?: string
  host?: string
  port?: number
  database?: string
}

const PATCHED = Symbol.for('pgrig.printable-pg')

/**
 * Vitest prints an error's own properties, hidden ones included, so a node-postgres client hung on
 * an error (pg-pool's idle-client errors carry `err.client`) would print its password and a few
 * hundred lines of internals. A client prints as what it connects to instead: a `toJSON`, which
 * Vitest's serializer prefers, on the `pg` pgrig loads and on the project's own if that is
 * another copy.
 */
function printablePgClients(): void {
  const ours = createRequire(import.meta.url)
  const project = createRequire(path.join(process.cwd(), 'package.json'))
  const files = new Set([ours.resolve('pg')])
  try {
    files.add(project.resolve('pg'))
  } catch {
    // The project has no pg of its own: nothing more to patch.
  }
  for (const file of files) patch(ours(file) as PgModule)
}

function patch(pg: PgModule): void {
  const proto = pg.Client.prototype as { [PATCHED]?: true }
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

printablePgClients()
