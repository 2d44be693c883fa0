import type { IsolationMode } from '../../databases/run-databases.js'

export type { RunnerName } from './runner-info.js'

/**
 * What the run's main process tells the processes that run tests: survives structuredClone
 * (Vitest's provide) and JSON (an environment variable for Jest's workers). No database password.
 */
export interface PgrigProvided {
  /** Unix socket of the database broker. */
  socketPath: string
  isolation: IsolationMode
  keepFailed: boolean
  runId: string
  templateName: string
  /** Tables truncate mode leaves alone. */
  exclude?: string[]
  /** Present when the run was asked for Redis: worker slot i uses logical database i. */
  redis?: { host: string; port: number; databases: number }
  /** The services the run started, by name: what a fixture reads (their env is set in every test process too). */
  services?: Record<string, ProvidedService>
}

export interface ProvidedService {
  port: number
  /** Its own folder (`{dir}`). */
  dir: string
  /** Its `env`, placeholders filled in (may hold the service's credentials, as the variables do). */
  env: Record<string, string>
}
