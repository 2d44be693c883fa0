export { startServe, serveOptionsFromEnv, isLoopback, DEFAULT_SERVE_PORT } from './serve.js'
export type { ServeOptions, Serving } from './serve.js'
export { TemplateManager, ApiError } from './manager.js'
export type { DatabaseConfig, TemplateDatabase, TestDatabase } from './manager.js'
