import fs from 'node:fs'
import path from 'node:path'

export function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK)
    return fs.statSync(file).isFile()
  } catch {
    return false
  }
}

/** Folders of a PATH value, in order. */
export function pathDirs(pathValue = process.env.PATH ?? ''): string[] {
  return pathValue.split(path.delimiter).filter(Boolean)
}

/**
 * Where a command's program is: a name with a slash is a path (relative to `cwd`), a bare name is
 * looked up on PATH, as a shell does. Undefined when there is no such executable.
 */
export function findProgram(program: string, cwd: string, dirs: string[] = pathDirs()): string | undefined {
  if (program.includes('/')) {
    const file = path.resolve(cwd, program)
    return isExecutable(file) ? file : undefined
  }
  for (const dir of dirs) {
    const candidate = path.resolve(cwd, dir, program)
    if (isExecutable(candidate)) return candidate
  }
  return undefined
}
