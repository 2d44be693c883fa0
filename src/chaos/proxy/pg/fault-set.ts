import { PgrigError } from '../../../errors.js'
import type { ToxicSpec } from '../toxic.js'
import {
  buildFault,
  checkAttributes,
  checkStream,
  checkToxicity,
  listAttributes,
  mergeFaultAttributes,
  type AttributeValue,
  type FaultToxic,
  type FaultToxicType,
} from './fault-toxics.js'
import { StartupFault, type StartupFaultSpec } from './startup-faults.js'
import { StatementFault, type StatementFaultSpec } from './statement-faults.js'

/** A fault added as a `pg_*` toxic: the fault in force and the attributes it was given. */
interface FaultEntry {
  name: string
  type: FaultToxicType
  toxicity: number
  attributes: Record<string, AttributeValue>
  fault: StatementFault | StartupFault
}

/**
 * The PostgreSQL-aware faults in force on one proxy, added directly or as `pg_*` toxics. The
 * lists are replaced, never changed in place, so a proxied connection reading one keeps a stable view.
 */
export class FaultSet {
  private statementFaults: StatementFault[] = []
  private startupFaults: StartupFault[] = []
  /** Faults added as `pg_*` toxics stay listed after `times` is spent, until removed. */
  private entries: FaultEntry[] = []

  addStatement(spec: StatementFaultSpec): StatementFault {
    const fault = new StatementFault(spec)
    this.statementFaults = [...this.statementFaults, fault]
    return fault
  }

  removeStatement(fault: StatementFault | string): void {
    this.statementFaults = this.statementFaults.filter((f) => f !== fault && f.name !== fault)
  }

  /** Statement faults still in force (spent `times` ones drop out). */
  statements(): readonly StatementFault[] {
    if (this.statementFaults.some((f) => f.exhausted)) {
      this.statementFaults = this.statementFaults.filter((f) => !f.exhausted)
    }
    return this.statementFaults
  }

  addStartup(spec: StartupFaultSpec): StartupFault {
    const fault = new StartupFault(spec)
    this.startupFaults = [...this.startupFaults, fault]
    return fault
  }

  removeStartup(fault: StartupFault | string): void {
    this.startupFaults = this.startupFaults.filter((f) => f !== fault && f.name !== fault)
  }

  /** Startup faults still in force (spent `times` ones drop out). */
  startups(): readonly StartupFault[] {
    if (this.startupFaults.some((f) => f.exhausted)) {
      this.startupFaults = this.startupFaults.filter((f) => !f.exhausted)
    }
    return this.startupFaults
  }

  /** The FATAL answer for a new connection, when a startup fault takes it (and counts it). */
  refusal(): Buffer | undefined {
    return this.startups()
      .find((f) => f.take())
      ?.answer()
  }

  /** The `pg_*` toxics, as snapshots with their `hits`. */
  toxics(): FaultToxic[] {
    return this.entries.map(faultToxic)
  }

  /** `taken`: whether a toxic of that name exists already (network toxics included). */
  addToxic(type: FaultToxicType, spec: ToxicSpec, taken: (name: string) => boolean): FaultToxic {
    const stream = checkStream(type, spec.stream)
    const toxicity = checkToxicity(spec.toxicity)
    const attributes = checkAttributes(type, spec.attributes)
    const name = spec.name || `${type}_${stream}`
    const fault = buildFault(type, name, toxicity, attributes)
    if (taken(name)) throw new PgrigError('E_CHAOS_EXISTS', 'toxic already exists')
    const entry: FaultEntry = { name, type, toxicity, attributes, fault }
    this.entries = [...this.entries, entry]
    this.put(fault)
    return faultToxic(entry)
  }

  /** Undefined when no `pg_*` toxic has that name. */
  updateToxic(
    name: string,
    update: { attributes?: Record<string, unknown>; toxicity?: number },
  ): FaultToxic | undefined {
    const entry = this.entries.find((e) => e.name === name)
    if (!entry) return undefined
    const toxicity = update.toxicity === undefined ? entry.toxicity : checkToxicity(update.toxicity)
    const attributes = mergeFaultAttributes(entry.type, entry.attributes, update.attributes)
    const fault = buildFault(entry.type, entry.name, toxicity, attributes)
    // `times` counts from when the toxic was added, not from the update
    fault.hits = entry.fault.hits
    const old = entry.fault
    Object.assign(entry, { toxicity, attributes, fault })
    this.put(fault, old)
    return faultToxic(entry)
  }

  /** False when no `pg_*` toxic has that name. */
  removeToxic(name: string): boolean {
    const entry = this.entries.find((e) => e.name === name)
    if (!entry) return false
    this.entries = this.entries.filter((e) => e !== entry)
    if (entry.fault instanceof StartupFault) this.removeStartup(entry.fault)
    else this.removeStatement(entry.fault)
    return true
  }

  clear(): void {
    this.statementFaults = []
    this.startupFaults = []
    this.entries = []
  }

  /** Puts a fault in force (in place of `old`, keeping its turn among the faults). */
  private put(fault: StatementFault | StartupFault, old?: StatementFault | StartupFault): void {
    const swap = <F>(list: F[], next: F): F[] => {
      const at = old ? list.indexOf(old as F) : -1
      return at < 0 ? [...list, next] : list.map((f, i) => (i === at ? next : f))
    }
    if (fault instanceof StartupFault) this.startupFaults = swap(this.startupFaults, fault)
    else this.statementFaults = swap(this.statementFaults, fault)
  }
}

function faultToxic(entry: FaultEntry): FaultToxic {
  return {
    name: entry.name,
    type: entry.type,
    stream: 'upstream',
    toxicity: entry.toxicity,
    attributes: listAttributes(entry.type, entry.attributes, entry.fault),
  }
}
