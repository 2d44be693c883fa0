import type { PgrigProvided } from '../lifecycle/provided.js'

declare module 'vitest' {
  interface ProvidedContext {
    pgrig: PgrigProvided
  }
}
