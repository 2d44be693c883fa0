import { PgrigError } from '../../../errors.js'
import { DEFAULT_STARTUP_CODE, StartupFault, type StartupFaultSpec } from './startup-faults.js'
import {
  COMMIT_STATEMENT,
  StatementFault,
  type StatementFaultSpec,
  type StatementMatch,
} from './statement-faults.js'

/**
 * The PostgreSQL-aware faults dressed as Toxiproxy toxics, so any Toxiproxy client can set them
 * over HTTP: `{name, type, stream: 'upstream', toxicity, attributes}`, toxicity being the chance
 * that the fault acts on a matching statement (or a new connection).
 */
export const FAULT_TOXIC_TYPES = [
  'pg_error',
  'pg_delay',
  'pg_ambiguous_commit',
  'pg_refuse_connection',
] as const
export type FaultToxicType = (typeof FAULT_TOXIC_TYPES)[number]
export type AttributeValue = number | string | boolean

export interface FaultToxic {
  name: string
  type: FaultToxicType
  stream: 'upstream'
  toxicity: number
  attributes: Record<string, AttributeValue>
}

const ATTRIBUTES: Record<FaultToxicType, readonly string[]> = {
  pg_error: ['match', 'regex', 'code', 'message', 'close', 'times'],
  pg_delay: ['match', 'regex', 'ms', 'times'],
  pg_ambiguous_commit: ['match', 'regex', 'times'],
  pg_refuse_connection: ['code', 'message', 'times'],
}

export function isFaultToxicType(type: unknown): type is FaultToxicType {
  return (FAULT_TOXIC_TYPES as readonly unknown[]).includes(type)
}

const bad = (message: string) => new PgrigError('E_CHAOS_INVALID', `bad request body: ${message}`)

/** Checks each given attribute on its own; `hits` is read-only and dropped. */
export function checkAttributes(
  type: FaultToxicType,
  input: Record<string, unknown> | null | undefined,
): Record<string, AttributeValue> {
  if (input === undefined || input === null) return {}
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw bad('attributes must be an object')
  }
  const out: Record<string, AttributeValue> = {}
  for (const [key, value] of Object.entries(input)) {
    if (key === 'hits') continue
    if (!ATTRIBUTES[type].includes(key)) {
      throw bad(`${type} has no attribute ${key}; it takes ${ATTRIBUTES[type].join(', ')}`)
    }
    out[key] = checkValue(key, value)
  }
  return out
}

function checkValue(key: string, value: unknown): AttributeValue {
  switch (key) {
    case 'match':
    case 'message':
      if (typeof value !== 'string' || (key === 'match' && !value.trim())) {
        throw bad(`attribute ${key} must be a${key === 'match' ? ' non-empty' : ''} string`)
      }
      return value
    case 'regex':
      if (typeof value !== 'string' || !value) throw bad('attribute regex must be a non-empty string')
      try {
        new RegExp(value, 'i')
      } catch (error) {
        throw bad(
          `attribute regex ${JSON.stringify(value)} is not a valid regular expression (${(error as Error).message})`,
        )
      }
      return value
    case 'code':
      if (typeof value !== 'string' || !/^[0-9A-Z]{5}$/.test(value)) {
        throw bad(
          `attribute code ${JSON.stringify(value)} is not a SQLSTATE: give five digits or capitals as a string, e.g. "40001"`,
        )
      }
      return value
    case 'close':
      if (value === 0 || value === 1) return value === 1
      if (typeof value !== 'boolean') throw bad('attribute close must be true or false')
      return value
    case 'times':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
        throw bad('attribute times must be a whole number >= 0 (0 = every time)')
      }
      return value
    default: // ms
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
        throw bad(`attribute ${key} must be a number of milliseconds >= 0`)
      }
      return value
  }
}

/** Merges an update into stored attributes: a new `match` replaces `regex` and the other way round. */
export function mergeFaultAttributes(
  type: FaultToxicType,
  stored: Record<string, AttributeValue>,
  update: Record<string, unknown> | undefined,
): Record<string, AttributeValue> {
  const changes = checkAttributes(type, update)
  const merged = { ...stored }
  if ('match' in changes) delete merged.regex
  if ('regex' in changes) delete merged.match
  return { ...merged, ...changes }
}

export function checkToxicity(toxicity: unknown): number {
  if (toxicity === undefined) return 1
  if (typeof toxicity !== 'number' || !(toxicity >= 0 && toxicity <= 1)) {
    throw bad('toxicity must be a number between 0 and 1')
  }
  return toxicity
}

export function checkStream(type: FaultToxicType, stream: unknown): 'upstream' {
  if (stream === undefined || stream === 'upstream') return 'upstream'
  throw bad(`${type} acts on what the client sends, so its stream must be upstream (or left out)`)
}

/** Builds the fault a toxic stands for; attributes must have passed checkAttributes. */
export function buildFault(
  type: FaultToxicType,
  name: string,
  toxicity: number,
  attributes: Record<string, AttributeValue>,
): StatementFault | StartupFault {
  const times = attributes.times ? (attributes.times as number) : undefined
  const common = { name, times, probability: toxicity < 1 ? toxicity : undefined }
  if (type === 'pg_refuse_connection') {
    const spec: StartupFaultSpec = { ...common, code: attributes.code as string | undefined }
    if (attributes.message !== undefined) spec.message = attributes.message as string
    return new StartupFault(spec)
  }
  if (attributes.match !== undefined && attributes.regex !== undefined) {
    throw bad(`${type} takes match (the whole statement text) or regex (a pattern), not both`)
  }
  const match: StatementMatch | undefined =
    attributes.regex !== undefined
      ? new RegExp(attributes.regex as string, 'i')
      : (attributes.match as string | undefined)
  if (type === 'pg_ambiguous_commit') {
    return new StatementFault({ ...common, type: 'ambiguous-commit', match })
  }
  if (match === undefined) {
    throw bad(`${type} needs attribute match (the whole statement text) or regex (a pattern)`)
  }
  let spec: StatementFaultSpec
  if (type === 'pg_delay') {
    if (attributes.ms === undefined)
      throw bad('pg_delay needs attribute ms (milliseconds to hold the statement)')
    spec = { ...common, type: 'delay', match, ms: attributes.ms as number }
  } else {
    if (attributes.code === undefined) throw bad('pg_error needs attribute code (a SQLSTATE, e.g. "40001")')
    spec = { ...common, type: 'error', match, code: attributes.code as string }
    if (attributes.message !== undefined) spec.message = attributes.message as string
    if (attributes.close !== undefined) spec.close = attributes.close as boolean
  }
  return new StatementFault(spec)
}

/** The attributes as listed: every setting in force (defaults filled in, as Toxiproxy does) and `hits`. */
export function listAttributes(
  type: FaultToxicType,
  attributes: Record<string, AttributeValue>,
  fault: StatementFault | StartupFault,
): Record<string, AttributeValue> {
  const times = (attributes.times as number | undefined) ?? 0
  if (fault instanceof StartupFault) {
    return {
      code: attributes.code ?? DEFAULT_STARTUP_CODE,
      message: fault.errorMessage,
      times,
      hits: fault.hits,
    }
  }
  const match: Record<string, AttributeValue> =
    attributes.match !== undefined
      ? { match: attributes.match }
      : { regex: attributes.regex ?? (type === 'pg_ambiguous_commit' ? COMMIT_STATEMENT.source : '') }
  if (type === 'pg_delay') return { ...match, ms: attributes.ms!, times, hits: fault.hits }
  if (type === 'pg_error') {
    return {
      ...match,
      code: attributes.code!,
      message: fault.errorMessage,
      close: fault.closes,
      times,
      hits: fault.hits,
    }
  }
  return { ...match, times, hits: fault.hits }
}
