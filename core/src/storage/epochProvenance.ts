import type { ProvenanceRun } from './rebuildFresh.js'

/** Index of the last run whose `key(run) <= clock`, or -1. `runs` is sorted by `key`. */
const lastAtOrBefore = (
  runs: readonly ProvenanceRun[],
  clock: number,
  key: (r: ProvenanceRun) => number,
): number => {
  let lo = 0
  let hi = runs.length - 1
  let found = -1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    if (key(runs[mid] as ProvenanceRun) <= clock) {
      found = mid
      lo = mid + 1
    } else {
      hi = mid - 1
    }
  }
  return found
}

const byOldClock = (r: ProvenanceRun): number => r.oldClock
const byNewClock = (r: ProvenanceRun): number => r.newClock

/**
 * Provenance (COMPACT-3.2) indexed both ways: old id → new clock (per old client), new clock → old id. Every old id
 * appears in at most one run, and so does every new clock.
 */
export class ProvenanceIndex {
  readonly #byOld = new Map<number, ProvenanceRun[]>()
  readonly #byNew: ProvenanceRun[]

  constructor(runs: readonly ProvenanceRun[]) {
    for (const run of runs) {
      let list = this.#byOld.get(run.oldClient)
      if (!list) this.#byOld.set(run.oldClient, (list = []))
      list.push(run)
    }
    for (const list of this.#byOld.values()) list.sort((a, b) => a.oldClock - b.oldClock)
    this.#byNew = [...runs].sort((a, b) => a.newClock - b.newClock)
  }

  /** The new clock of old id `(client, clock)`, or null when that old item is not in the new epoch. */
  toNew(client: number, clock: number): number | null {
    const runs = this.#byOld.get(client)
    if (!runs) return null
    const run = runs[lastAtOrBefore(runs, clock, byOldClock)]
    return run && clock < run.oldClock + run.length ? run.newClock + clock - run.oldClock : null
  }

  /** The old id of new clock `clock`, or null. */
  toOld(clock: number): { readonly client: number; readonly clock: number } | null {
    const run = this.#byNew[lastAtOrBefore(this.#byNew, clock, byNewClock)]
    return run && clock < run.newClock + run.length
      ? { client: run.oldClient, clock: run.oldClock + clock - run.newClock }
      : null
  }

  /** Highest old clock in `[from, to)` of `client` that has a new clock, mapped (null if none). */
  lastIn(client: number, from: number, to: number): number | null {
    const runs = this.#byOld.get(client)
    if (!runs || from >= to) return null
    for (let i = lastAtOrBefore(runs, to - 1, byOldClock); i >= 0; i--) {
      const run = runs[i] as ProvenanceRun
      const end = Math.min(to, run.oldClock + run.length)
      if (end <= from) return null
      if (end > run.oldClock) return run.newClock + end - 1 - run.oldClock
    }
    return null
  }

  /** Lowest old clock in `[from, to)` of `client` that has a new clock, mapped (null if none). */
  firstIn(client: number, from: number, to: number): number | null {
    const runs = this.#byOld.get(client)
    if (!runs || from >= to) return null
    let i = lastAtOrBefore(runs, from, byOldClock)
    if (i < 0 || from >= (runs[i] as ProvenanceRun).oldClock + (runs[i] as ProvenanceRun).length) i++
    const run = runs[i]
    if (!run || run.oldClock >= to) return null
    const start = Math.max(from, run.oldClock)
    return run.newClock + start - run.oldClock
  }

  /** Calls `f(newClock, length)` for every mapped stretch of old clocks `[from, to)` of `client`. */
  forEachIn(client: number, from: number, to: number, f: (newClock: number, length: number) => void): void {
    const runs = this.#byOld.get(client)
    if (!runs || from >= to) return
    let i = Math.max(0, lastAtOrBefore(runs, from, byOldClock))
    for (; i < runs.length; i++) {
      const run = runs[i] as ProvenanceRun
      if (run.oldClock >= to) break
      const start = Math.max(from, run.oldClock)
      const end = Math.min(to, run.oldClock + run.length)
      if (end > start) f(run.newClock + start - run.oldClock, end - start)
    }
  }
}
