import { redactUrl } from '../../servers/server-info.js'
import type { Lease } from '../../databases/clone-pool.js'
import { linesOfDatabase, readLogSlice } from '../../databases/log-slice.js'

export interface Forensics {
  /** The kept database's line (password as ***), when the database was kept. */
  keptLine?: string
  /** What the server logged about the test's database while it ran (and any server-wide trouble). */
  serverLog?: string
}

/** What a runner shows for a failed test: the kept database's line and the server log of the test. */
export function failureForensics(lease: Lease, testName: string, keep: boolean): Forensics {
  const forensics: Forensics = {}
  // Never the password in a log line: it is the run's app password (`pgrig env`, PGPASSWORD).
  if (keep)
    forensics.keptLine = `pgrig: kept database ${lease.name} of failed test "${testName}": ${redactUrl(lease.url)}${lease.keptNote ? ` (${lease.keptNote})` : ''}`
  const log = linesOfDatabase(readLogSlice(lease.logFile, lease.logOffset), lease.name).trimEnd()
  if (log) forensics.serverLog = log
  return forensics
}

/** For runners without a place for it in their report (node:test, Jest): the forensics on stderr. */
export function printForensics(testName: string, forensics: Forensics): void {
  if (forensics.keptLine) console.error(forensics.keptLine)
  if (forensics.serverLog) console.error(`pgrig: server log during "${testName}":\n${forensics.serverLog}`)
}
