import { PgrigError } from '../../errors.js'
import { buildToxic, mergeAttributes, type Stream, type Toxic, type ToxicSpec } from './toxic.js'
import { isFaultToxicType, type FaultToxic } from './pg/fault-toxics.js'
import { FaultSet } from './pg/fault-set.js'

/** A network toxic, or a PostgreSQL-aware fault set as a `pg_*` toxic (a snapshot). */
export type ListedToxic = Toxic | FaultToxic

/**
 * The toxics of one proxy, as Toxiproxy's `toxic_collection.go`: network toxics per direction,
 * and the PostgreSQL-aware faults (`faults`), which can also be given as `pg_*` toxics. A
 * direction's list is replaced, never changed in place, so a link reading it keeps a stable
 * view; `changed` tells the open links to read it again.
 */
export class ToxicCollection {
  private readonly streams: Record<Stream, Toxic[]> = { upstream: [], downstream: [] }
  readonly faults = new FaultSet()

  constructor(private readonly changed: () => void) {}

  of(stream: Stream): readonly Toxic[] {
    return this.streams[stream]
  }

  /** Network toxics, then the `pg_*` fault toxics (as snapshots, with their `hits`). */
  list(): ListedToxic[] {
    return [...this.streams.upstream, ...this.streams.downstream, ...this.faults.toxics()]
  }

  get(name: string): ListedToxic | undefined {
    return this.list().find((t) => t.name === name)
  }

  add(spec: ToxicSpec): ListedToxic {
    if (isFaultToxicType(spec.type)) {
      return this.faults.addToxic(spec.type, spec, (name) => this.get(name) !== undefined)
    }
    const toxic = buildToxic(spec)
    if (this.get(toxic.name)) throw new PgrigError('E_CHAOS_EXISTS', 'toxic already exists')
    this.streams[toxic.stream] = [...this.streams[toxic.stream], toxic]
    this.changed()
    return toxic
  }

  /** Changes attributes (merged) or toxicity; open connections see it on their next chunk. */
  update(name: string, update: { attributes?: Record<string, unknown>; toxicity?: number }): ListedToxic {
    const fault = this.faults.updateToxic(name, update)
    if (fault) return fault
    const toxic = this.network(name)
    const attributes = mergeAttributes(toxic.attributes, update.attributes)
    if (update.toxicity !== undefined) {
      if (typeof update.toxicity !== 'number' || !(update.toxicity >= 0 && update.toxicity <= 1)) {
        throw new PgrigError('E_CHAOS_INVALID', 'bad request body: toxicity must be a number between 0 and 1')
      }
      toxic.toxicity = update.toxicity
    }
    Object.assign(toxic.attributes, attributes)
    return toxic
  }

  remove(name: string): void {
    if (this.faults.removeToxic(name)) return
    const toxic = this.network(name)
    this.streams[toxic.stream] = this.streams[toxic.stream].filter((t) => t !== toxic)
    this.changed()
  }

  /** Removes every toxic and fault. */
  clear(): void {
    this.faults.clear()
    this.streams.upstream = []
    this.streams.downstream = []
    this.changed()
  }

  private network(name: string): Toxic {
    const toxic = [...this.streams.upstream, ...this.streams.downstream].find((t) => t.name === name)
    if (!toxic) throw new PgrigError('E_CHAOS_NOT_FOUND', 'toxic not found')
    return toxic
  }
}
