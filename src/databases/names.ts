import {
  cloneDatabaseName,
  ownerMarker,
  parseOwnerMarker,
  templateDatabaseName,
  workerDatabaseName as guardedWorkerName,
} from './guard.js'
import { editLibpqUrl } from '../cluster/libpq-url.js'

/**
 * How pgrig names and recognises its own databases. Every database it creates carries the
 * ownership marker (format and checks live in the guard); nothing without it is ever dropped.
 */
export type DatabaseKind = 'template' | 'clone' | 'worker'

export interface OwnershipMarker {
  runId: string
  kind: DatabaseKind
}

/** `pgrig {"runId":"<runId>","kind":"template|clone|worker"}` */
export function markerComment(marker: OwnershipMarker): string {
  return ownerMarker(marker)
}

export function parseMarker(comment: string | null | undefined): OwnershipMarker | undefined {
  return parseOwnerMarker(comment) ?? undefined
}

export function templateName(hash: string): string {
  return templateDatabaseName(hash.slice(0, 16))
}

/** Where a template is built before it is renamed into place, so a half-built one is never used. */
export function templateBuildName(hash: string, runId: string): string {
  return `pgrig_tplb_${hash.slice(0, 16)}_${runId}`
}

export function cloneName(runId: string, n: number): string {
  return cloneDatabaseName(runId, n)
}

export function workerDatabaseName(runId: string, n: number): string {
  return guardedWorkerName(runId, n)
}

/** The same server and credentials, another database. */
export function withDatabase(url: string, database: string): string {
  return editLibpqUrl(url, (parsed) => {
    parsed.pathname = `/${encodeURIComponent(database)}`
  })
}
