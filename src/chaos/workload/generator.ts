import type { MicroOp } from '../history/types.js'

export type KeyDistribution = 'uniform' | 'exponential'

/** mulberry32: a seeded generator so a failing run can be replayed with the same seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface GeneratorOptions {
  keys: number
  distribution: KeyDistribution
  maxOpsPerTransaction: number
  /** List-append only: a key that reached this many appends is retired for a fresh one, so reads stay short. */
  maxWritesPerKey: number
  random: () => number
}

/**
 * Hands out transactions (lists of micro-ops, reads still unanswered) over a small active key
 * set. Values are unique per key by construction (a counter per key).
 */
export class TransactionGenerator {
  readonly #active: number[]
  readonly #writes = new Map<number, number>()
  #nextKey: number

  constructor(private readonly options: GeneratorOptions) {
    this.#active = Array.from({ length: options.keys }, (_, i) => i)
    this.#nextKey = options.keys
  }

  #pickSlot(): number {
    const { keys, distribution, random } = this.options
    if (distribution === 'uniform') return Math.floor(random() * keys)
    // Each slot half as likely as the one before: a couple of hot keys, a long cold tail.
    const slot = Math.floor(-Math.log2(1 - random()))
    return Math.min(slot, keys - 1)
  }

  #distinctSlots(count: number): number[] {
    const slots = new Set<number>()
    const wanted = Math.min(count, this.options.keys)
    while (slots.size < wanted) slots.add(this.#pickSlot())
    return [...slots]
  }

  #nextValue(key: number): number {
    const n = (this.#writes.get(key) ?? 0) + 1
    this.#writes.set(key, n)
    return n
  }

  /** Reads and appends in random order over random keys. */
  listAppend(): MicroOp[] {
    const { maxOpsPerTransaction, maxWritesPerKey, random } = this.options
    const count = 1 + Math.floor(random() * maxOpsPerTransaction)
    const ops: MicroOp[] = []
    for (let i = 0; i < count; i++) {
      const slot = this.#pickSlot()
      const key = this.#active[slot]!
      if (random() < 0.5) {
        ops.push(['r', key, null])
      } else {
        const value = this.#nextValue(key)
        ops.push(['append', key, value])
        if (value >= maxWritesPerKey) this.#active[slot] = this.#nextKey++
      }
    }
    return ops
  }

  /**
   * Read several keys, then write some of them: the read-then-write shape lets the checker
   * order versions, and writing only part of what was read is what makes write skew possible.
   * One transaction in five only reads (a read-skew witness).
   */
  register(): MicroOp[] {
    const { maxOpsPerTransaction, random } = this.options
    const keys = this.#distinctSlots(Math.max(2, Math.ceil(maxOpsPerTransaction / 2))).map(
      (s) => this.#active[s]!,
    )
    const ops: MicroOp[] = keys.map((key) => ['r', key, null] as MicroOp)
    if (random() < 0.2) return ops
    const writes = keys.filter(() => random() < 0.5)
    if (writes.length === 0) writes.push(keys[Math.floor(random() * keys.length)]!)
    for (const key of writes) ops.push(['w', key, this.#nextValue(key)])
    return ops
  }
}
