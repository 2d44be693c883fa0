import fs from 'node:fs'

/** Where the server log ends now: the offset a test's slice starts at (0 with no log file). */
export function logOffsetOf(logFile: string | null): number {
  if (!logFile) return 0
  try {
    return fs.statSync(logFile).size
  } catch {
    return 0
  }
}
