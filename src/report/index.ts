export {
  BUILTIN_CATEGORIES,
  categoriesOf,
  categoryDefinitions,
  failureAllowed,
  resolvePolicy,
  skipReason,
  type BuiltinCategory,
  type CategoryDefinition,
  type CategoryPolicy,
} from './categories.js'
export { collectEnvironment } from './environment.js'
export { renderHtml } from './html.js'
export { renderMarkdown } from './markdown.js'
export { combineResults, mergeReports, readResults, type MergeOptions, type MergeResult } from './merge.js'
export { createRedactor } from './redact.js'
export { PgrigReporter, reportDir, type PgrigReporterOptions, type PgrigTaskMeta } from './reporter.js'
export { pgrigReport, type PgrigPluginOptions } from './plugin.js'
export * from './results.js'
export { writeReports, REPORT_FILES, type WrittenReport } from './write.js'
