/**
 * How pgrig recognises its own databases. Every database it creates carries this comment; nothing
 * without it is ever dropped or truncated. The format is shared with the safety guard: keep it exact.
 */
export type DatabaseKind = 'template' | 'clone' | 'worker'

export interface OwnershipMarker {
  runId: string
  kind: DatabaseKind
}

const MARKER_PREFIX = 'pgrig '

export function markerComment(marker: OwnershipMarker): string {
  return `${MARKER_PREFIX}${JSON.stringify({ runId: marker.runId, kind: marker.kind })}`
}

export function parseMarker(comment: string | null | undefined): OwnershipMarker | undefined {
  if (!comment?.startsWith(MARKER_PREFIX)) return undefined
  try {
    const value = JSON.parse(comment.slice(MARKER_PREFIX.length)) as Partial<OwnershipMarker>
    const kinds: DatabaseKind[] = ['template', 'clone', 'worker']
    if (typeof value.runId !== 'string' || !kinds.includes(value.kind as DatabaseKind)) return undefined
    return { runId: value.runId, kind: value.kind as DatabaseKind }
  } catch {
    return undefined
  }
}

export function templateName(hash: string): string {
  return `pgrig_tpl_${hash.slice(0, 16)}`
}

/** Where a template is built before it is renamed into place, so a half-built one is never used. */
export function templateBuildName(hash: string, runId: string): string {
  return `pgrig_tplb_${hash.slice(0, 16)}_${runId}`
}

export function cloneName(runId: string, n: number): string {
  return `pgrig_${runId}_${n}`
}

export function workerDatabaseName(runId: string, n: number): string {
  return `pgrig_${runId}_w${n}`
}

/** The same server and credentials, another database. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url)
  parsed.pathname = `/${encodeURIComponent(database)}`
  return parsed.toString()
}
