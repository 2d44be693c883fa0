/** An error printed by a test runner as its one line, without a stack trace into pgrig. */
export function oneLine(error: unknown): unknown {
  if (
    error instanceof Error &&
    'code' in error &&
    typeof error.code === 'string' &&
    error.code.startsWith('E_')
  ) {
    error.stack = `${error.name}: ${error.message}`
    // The message already carries the cause's text; its stack would only bury the line.
    delete error.cause
  }
  return error
}
