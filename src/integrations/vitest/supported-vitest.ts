import { createRequire } from 'node:module'
import { PgrigError } from '../../errors.js'
import { oneLine } from '../lifecycle/one-line.js'

/** The Vitest majors pgrig/vitest runs on (package.json's peerDependencies says the same). */
const SUPPORTED_MAJORS = [4, 5]
const LATEST = SUPPORTED_MAJORS[SUPPORTED_MAJORS.length - 1]!

/**
 * Imported first by pgrig/vitest, before anything that imports Vitest's runtime: an older Vitest
 * fails there with "Vitest failed to access its internal state", which names nothing to change.
 */
function checkVitest(): void {
  let version: string
  try {
    version = (createRequire(import.meta.url)('vitest/package.json') as { version: string }).version
  } catch {
    // No Vitest to find from here: the import of 'vitest' right after says so itself.
    return
  }
  const major = Number(version.split('.')[0])
  if (SUPPORTED_MAJORS.includes(major)) return
  throw oneLine(
    new PgrigError(
      'E_USAGE',
      `pgrig/vitest needs Vitest ${SUPPORTED_MAJORS.join(' or ')}, found ${version}: npm i -D vitest@${LATEST} (or use pgrig/node-test, or run the suite under npx pgrig run for one shared database)`,
    ),
  )
}

checkVitest()
