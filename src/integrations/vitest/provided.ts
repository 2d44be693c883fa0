import type { PgrigProvided } from '../shared.js'

declare module 'vitest' {
  interface ProvidedContext {
    pgrig: PgrigProvided
  }
}
