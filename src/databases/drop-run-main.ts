/**
 * Drops one run's databases and exits: what `dropOnSignal` runs, synchronously, when the run's
 * main process is interrupted. Reads `{ adminUrl, runId }` from stdin (a URL with a password never
 * goes on a command line, where `ps` shows it).
 */
import { dropRunDatabases } from './leftovers.js'

const chunks: Buffer[] = []
process.stdin.on('data', (chunk: Buffer) => chunks.push(chunk))
process.stdin.on('end', () => {
  void main().then(
    () => process.exit(0),
    () => process.exit(1),
  )
})

async function main(): Promise<void> {
  const { adminUrl, runId } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
    adminUrl: string
    runId: string
  }
  // A clone the pool's thread was creating as the signal came lands a moment later: drop until none is left.
  for (let round = 0; round < 5; round++) {
    if (round > 0) await new Promise((resolve) => setTimeout(resolve, 100))
    if ((await dropRunDatabases(adminUrl, runId)).length === 0 && round > 0) return
  }
}
