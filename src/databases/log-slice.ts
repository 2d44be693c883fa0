import fs from 'node:fs'

/** What the server wrote to its log since `offset`, at most `limit` bytes (the end, when longer). */
export function readLogSlice(logFile: string | null, offset: number, limit = 16 * 1024): string {
  if (!logFile) return ''
  let fd: number | undefined
  try {
    fd = fs.openSync(logFile, 'r')
    const size = fs.fstatSync(fd).size
    const start = Math.max(offset, size - limit)
    const buffer = Buffer.alloc(Math.max(0, size - start))
    fs.readSync(fd, buffer, 0, buffer.length, start)
    return buffer.toString('utf8')
  } catch {
    return ''
  } finally {
    if (fd !== undefined) fs.closeSync(fd)
  }
}

// `log_line_prefix` '%m [%p] %q%u@%d ': a session's lines carry user@database, other processes' none.
const LINE_START = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ \[\d+\] (?:(\S*)@(\S*) )?([A-Z]+):/
const SERVER_TROUBLE = new Set(['WARNING', 'ERROR', 'FATAL', 'PANIC'])
/** The postmaster's LOG lines that say the server itself went wrong or away. */
const SERVER_EVENT =
  /terminated by signal|exited with exit code|shutdown request|shutting down|shut down|crash|recovery/

/**
 * The lines of a log slice that concern one database: its sessions' lines (with their DETAIL,
 * HINT, STATEMENT and continuation lines), and server-wide trouble (a crash, a PANIC); not the
 * other tests' sessions, nor checkpoints and other routine lines of the server's own processes.
 */
export function linesOfDatabase(log: string, database: string): string {
  const kept: string[] = []
  let keeping = false
  for (const line of log.split('\n')) {
    const start = LINE_START.exec(line)
    if (start) {
      const [, , db, severity] = start
      keeping = db === undefined ? SERVER_TROUBLE.has(severity!) || SERVER_EVENT.test(line) : db === database
    }
    if (keeping) kept.push(line)
  }
  return kept.join('\n')
}
