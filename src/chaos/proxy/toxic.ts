import { PgrigError } from '../../errors.js'
/**
 * Toxiproxy's model: a toxic is `{name, type, stream, toxicity, attributes}`; each type lives in
 * its own file under `toxics/` and registers itself here by name.
 */
export type Stream = 'upstream' | 'downstream'

export interface Toxic {
  name: string
  type: string
  stream: Stream
  /** Probability (0..1) that the toxic acts on a given connection. */
  toxicity: number
  attributes: Record<string, number>
}

export interface ToxicSpec {
  type: string
  name?: string
  stream?: Stream
  toxicity?: number
  /** Numbers for network toxics; the `pg_*` fault toxics also take strings and booleans. */
  attributes?: Record<string, number | string | boolean>
}

/** What a toxic sees of one connection direction while it acts on it. */
export interface ToxicStub {
  /** The toxic's current attributes: an update applies to the next chunk. */
  readonly attributes: Record<string, number>
  /** When the chunk being piped arrived at the proxy (`performance.now()` ms). */
  readonly arrivedAt: number
  /** Scratch space that lives as long as this toxic acts on this connection. */
  readonly state: Record<string, number>
  /** Aborted when the toxic is removed or the connection closes. */
  readonly signal: AbortSignal
  /**
   * Passes bytes on to the next toxic (or the socket); waits while the socket is full. `leftAt`
   * (`performance.now()` ms, default now) is when the bytes count as leaving this toxic, the next
   * toxic's `arrivedAt`: a delaying toxic gives its deadline, so a timer that fired late does not
   * push the deadlines of the toxics after it (Toxiproxy moves a chunk's timestamp on by the sleep).
   */
  forward(chunk: Buffer, leftAt?: number): Promise<void>
  /** Resolves after `ms`, or at once when `signal` aborts. */
  sleep(ms: number): Promise<void>
  /** Closes both sides of the connection: `end` sends FIN, `reset` sends RST. */
  close(how: 'end' | 'reset'): void
}

export interface ToxicType {
  type: string
  defaults: Record<string, number>
  /** Handles one chunk. Without it the toxic forwards chunks untouched. */
  pipe?(chunk: Buffer, stub: ToxicStub): Promise<void> | void
  /** Runs when the toxic starts acting on a connection (for toxics driven by a clock). */
  start?(stub: ToxicStub): void
  /** Runs before the proxy passes a close on to the other side. */
  beforeClose?(stub: ToxicStub): Promise<void>
}

const registry = new Map<string, ToxicType>()

export function registerToxic(type: ToxicType): void {
  registry.set(type.type, type)
}

export function toxicType(name: string): ToxicType | undefined {
  return registry.get(name)
}

export function toxicTypes(): string[] {
  return [...registry.keys()]
}

/** Fills defaults and checks a spec the way Toxiproxy does (same messages, same statuses). */
export function buildToxic(spec: ToxicSpec): Toxic {
  const type = toxicType(spec.type)
  if (!type) throw new PgrigError('E_CHAOS_INVALID', 'invalid toxic type')
  const stream = spec.stream ?? 'downstream'
  if (stream !== 'upstream' && stream !== 'downstream') {
    throw new PgrigError('E_CHAOS_INVALID', 'stream was invalid, can be either upstream or downstream')
  }
  const toxicity = spec.toxicity ?? 1
  if (typeof toxicity !== 'number' || !(toxicity >= 0 && toxicity <= 1)) {
    throw new PgrigError('E_CHAOS_INVALID', 'bad request body: toxicity must be a number between 0 and 1')
  }
  return {
    name: spec.name || `${spec.type}_${stream}`,
    type: spec.type,
    stream,
    toxicity,
    attributes: mergeAttributes(type.defaults, spec.attributes),
  }
}

/** The largest value an attribute may have: the longest delay a Node timer can wait, in ms. */
export const MAX_ATTRIBUTE = 2 ** 31 - 1

export function mergeAttributes(
  base: Record<string, number>,
  update: Record<string, unknown> | undefined,
): Record<string, number> {
  const merged = { ...base }
  for (const [key, value] of Object.entries(update ?? {})) {
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new PgrigError('E_CHAOS_INVALID', `bad request body: attribute ${key} must be a number`)
    }
    // Times become Node timers, which take at most 2^31-1 ms (a larger one fires after ~1 ms).
    if (value < 0 || value > MAX_ATTRIBUTE) {
      throw new PgrigError(
        'E_CHAOS_INVALID',
        `bad request body: attribute ${key} ${value} is out of range: give a number from 0 to ${MAX_ATTRIBUTE}`,
      )
    }
    merged[key] = value
  }
  return merged
}
