/** A uniform number in [0, 1) from a seeded generator (see {@link seededRandom}). */
export type Rand = () => number

/**
 * A small deterministic pseudo-random generator (mulberry32): the same seed gives the same sequence on every
 * machine, so a failing fuzz seed or a benchmark workload reproduces. Not for anything secret.
 */
export const seededRandom = (seed: number): Rand => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A whole number in [0, max] drawn from `rand`. */
export const randomInt = (rand: Rand, max: number): number => Math.floor(rand() * (max + 1))

/** One element of `items` drawn from `rand`. */
export const randomPick = <T>(rand: Rand, items: readonly T[]): T =>
  items[randomInt(rand, items.length - 1)] as T
