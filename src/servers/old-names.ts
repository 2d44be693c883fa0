import { startServer, type StartServerOptions } from './start-server.js'
import { StartedServer } from './started-server.js'
import type { ServerTls } from './server-info.js'

/**
 * The names the server API had before "server" became the one word for a running PostgreSQL.
 * Each is the new one under its old name, so code written against them keeps working.
 */

/** @deprecated use startServer */
export const startCluster = startServer

/** @deprecated use StartedServer */
export const StartedCluster = StartedServer
/** @deprecated use StartedServer */
export type StartedCluster = StartedServer

/** @deprecated use StartServerOptions */
export type StartClusterOptions = StartServerOptions

/** @deprecated use ServerTls */
export type ClusterTls = ServerTls
