import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import type { RunAs } from './os-user.js'
import { untaggedEnv } from './process-tree.js'

/**
 * Ready-made copies of a data dir template, kept next to it on tmpfs. Copying the template is the
 * largest part of a warm start (~50 ms for 35 MB here); renaming a spare into place is ~0 ms. Each
 * start takes one and has a new one copied in the background, off every start's critical path.
 * `PGRIG_SPARE_DATADIRS` sets how many are kept per template (0 turns spares off).
 */
export function spareCount(): number {
  const raw = process.env.PGRIG_SPARE_DATADIRS
  const count = raw === undefined || raw === '' ? 2 : Number(raw)
  return Number.isInteger(count) && count >= 0 ? count : 2
}

function sparesDirOf(template: string): string {
  return `${template}.spares`
}

/** An unfinished copy is named `.tmp-…`; one left behind by a killed copy is swept after this long. */
export const STALE_COPY_MS = 10 * 60_000

/**
 * Moves a spare copy of `template` to `target` (same file system) and returns true, or returns
 * false when none is ready. A spare another process renamed first is simply skipped.
 */
export function claimSpare(template: string, target: string): boolean {
  const dir = sparesDirOf(template)
  let entries: string[]
  try {
    entries = fs.readdirSync(dir)
  } catch {
    return false
  }
  for (const entry of entries) {
    if (entry.startsWith('.')) continue
    try {
      fs.renameSync(path.join(dir, entry), target)
      return true
    } catch {
      // taken by a concurrent start; try the next
    }
  }
  return false
}

const refilling = new Set<string>()

/**
 * Tops the spares of `template` up to `spareCount()` with detached copies, which finish even when
 * this process exits first (`pgrig up` returns at once).
 */
export function refillSpares(template: string, runAs: RunAs | undefined): void {
  const wanted = spareCount()
  if (wanted === 0 || refilling.has(template)) return
  const dir = sparesDirOf(template)
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 })
  if (runAs) fs.chownSync(dir, runAs.uid, runAs.gid)
  const now = Date.now()
  let present = 0
  for (const entry of fs.readdirSync(dir)) {
    const full = path.join(dir, entry)
    if (entry.startsWith('.tmp-')) {
      const age = now - (fs.statSync(full, { throwIfNoEntry: false })?.mtimeMs ?? now)
      if (age > STALE_COPY_MS) fs.rmSync(full, { recursive: true, force: true })
      else present++
    } else {
      present++
    }
  }
  const missing = wanted - present
  if (missing <= 0) return
  refilling.add(template)
  // One shell makes the copies one after another, so a refill never takes both cores from tests.
  const script =
    'for n in $(seq "$1"); do t="$3/.tmp-$(od -An -N6 -tx1 /dev/urandom | tr -d " \\n")"; cp -a "$2" "$t" && mv "$t" "$3/${t##*/.tmp-}" || rm -rf "$t"; done'
  const child = spawn('sh', ['-c', script, 'refill-spares', String(missing), template, dir], {
    detached: true,
    // A cache job that outlives the command it was started under: not stopped with that command's tree.
    env: untaggedEnv(),
    stdio: 'ignore',
    ...(runAs ? { uid: runAs.uid, gid: runAs.gid } : {}),
  })
  child.on('error', () => refilling.delete(template))
  child.on('exit', () => refilling.delete(template))
  child.unref()
}
