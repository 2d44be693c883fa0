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
