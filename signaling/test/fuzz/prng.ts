/** A uniform number in [0, 1) from a seeded generator. */
export type Rand = () => number

/** mulberry32: a small seeded PRNG, so a failing seed reproduces. */
export const prng = (seed: number): Rand => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A whole number in [0, max]. */
export const int = (r: Rand, max: number): number => Math.floor(r() * (max + 1))

/** One element of `xs`. */
export const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length - 1)] as T
