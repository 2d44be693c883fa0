import type { ServerInfo } from './server-info.js'

/** A server some run on this machine recorded, with the run it belongs to. */
export interface RunServer {
  runId: string
  server: ServerInfo
}

/** What decides the default; each is optional, and they are tried in this order. */
export interface DefaultWanted {
  /** `--name` (or the integration's `server.name`): only that server. */
  name?: string | undefined
  /** `PGRIG_RUN_ID`: inside `pgrig run`, only that run's servers. */
  runId?: string | undefined
  /** `PGPORT` inside a run: a version matrix runs several servers in one run, each command seeing its own. */
  port?: number | undefined
  /** The name of the config's first server (`main` without a config). */
  configFirst?: string | undefined
}

export interface DefaultChoice extends RunServer {
  /** Why this one, in words `pgrig env` and `status` print. */
  why: string
}

/**
 * The one rule for which server `DATABASE_URL` and `PG*` mean (`pgrig env`, `pgrig status`, the
 * integrations): the one named (the run's own first); inside `pgrig run`, that run's own (the one `PGPORT` points at, else
 * its first, which is the config's first); otherwise the config's first server; only when none of
 * those is running, the oldest run's first. Servers are given oldest run first, each run's in
 * config order, so the answer never depends on which server finished starting first.
 */
export function chooseDefault(servers: RunServer[], wanted: DefaultWanted): DefaultChoice | undefined {
  const inRun = wanted.runId ? servers.filter((s) => s.runId === wanted.runId) : []
  const pool = inRun.length > 0 ? inRun : servers
  const where = inRun.length > 0 ? `of this pgrig run (${wanted.runId})` : undefined
  if (wanted.name !== undefined) {
    const inPool = pool.find((s) => s.server.name === wanted.name)
    const found = inPool ?? servers.find((s) => s.server.name === wanted.name)
    return found && { ...found, why: `named by --name${inPool && where ? `, ${where}` : ''}` }
  }
  if (inRun.length > 0) {
    const byPort = wanted.port ? inRun.find((s) => s.server.port === wanted.port) : undefined
    if (byPort) return { ...byPort, why: `the one PGPORT points at, ${where}` }
    return { ...inRun[0]!, why: `the first server ${where}` }
  }
  if (wanted.configFirst !== undefined) {
    const found = servers.find((s) => s.server.name === wanted.configFirst)
    if (found) return { ...found, why: "the config's first server" }
  }
  const first = servers[0]
  if (!first) return undefined
  const missing = wanted.configFirst
    ? `the config's first server (${wanted.configFirst}) is not running, so `
    : ''
  return { ...first, why: `${missing}the first server of the oldest run` }
}
