export {
  pgProperty,
  PropertyFailure,
  type CaseIsolation,
  type PgPropertyOptions,
  type PropertyTarget,
} from './pg-property.js'
export { inSavepoint } from './savepoint.js'
export { recordingSql, formatStatements, type Sql, type Statement } from './recording-sql.js'
