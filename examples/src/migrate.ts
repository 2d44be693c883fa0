import fs from 'node:fs'
import path from 'node:path'
import pg from 'pg'

/** The migration files of a folder, in the order they apply (by name). */
export function migrationFiles(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((file) => file.endsWith('.sql'))
    .sort()
    .map((file) => path.join(dir, file))
}

/**
 * Applies every migration of `dir` to the database at `url`, each in its own transaction, the way
 * the app does at deploy time. The files are written to be re-runnable, so applying twice is a no-op.
 */
export async function migrate(url: string, dir: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const applied: string[] = []
    for (const file of migrationFiles(dir)) {
      await client.query('BEGIN')
      try {
        await client.query(fs.readFileSync(file, 'utf8'))
        await client.query('COMMIT')
      } catch (error) {
        await client.query('ROLLBACK')
        throw new Error(`migration ${path.basename(file)} failed: ${(error as Error).message}`, {
          cause: error,
        })
      }
      applied.push(path.basename(file))
    }
    return applied
  } finally {
    await client.end()
  }
}
