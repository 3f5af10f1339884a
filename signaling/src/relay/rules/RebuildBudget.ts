import { performance } from 'node:perf_hooks'

/**
 * How much of the relay's time building ruled rooms' views may take (RULES-4.9, RULES-4.10). A refused update spoils
 * its room's view and the next check rebuilds it from the room's whole state; that rebuild is charged to the writer
 * whose update was refused. Any other build (a room's first view, after a change the room took another way) is
 * charged to the writer whose update needs it. Shares are fractions of wall-clock time, in `(0, 1]`.
 */
export interface RebuildBudgetOptions {
  /** The largest share of the relay's time that rebuilds charged to one writer (over all its rooms) take. Default 0.2. */
  readonly perWriter?: number
  /** The largest share that rebuilds charged to any writers take together. Default 0.5. */
  readonly total?: number
}

const DEFAULT_PER_WRITER = 0.2
const DEFAULT_TOTAL = 0.5
/** The key of the budget shared by every writer. */
const ALL = '\u0000all'

const shareOf = (value: number | undefined, fallback: number, name: string): number => {
  const share = value ?? fallback
  if (!(share > 0 && share <= 1))
    throw new RangeError(`rebuild budget: ${name} must be in (0, 1], got ${share}`)
  return share
}

/**
 * RULES-4.9: a duty cycle per writer and for all writers together. After a rebuild of `t` ms charged to writer `w`,
 * the next rebuild charged to `w` may start `t * (1 / perWriter - 1)` ms later, and the next rebuild charged to anyone
 * `t * (1 / total - 1)` ms later; until then the rooms needing a build wait (their updates are delayed, never
 * refused). Every build is charged (RULES-4.10), a room's first view included.
 */
export class RebuildBudget {
  readonly #perWriter: number
  readonly #total: number
  /** Earliest start of the next charged rebuild, by writer key (and {@link ALL}), in `performance.now()` ms. */
  readonly #next = new Map<string, number>()

  constructor(options: RebuildBudgetOptions = {}) {
    this.#perWriter = shareOf(options.perWriter, DEFAULT_PER_WRITER, 'perWriter')
    this.#total = shareOf(options.total, DEFAULT_TOTAL, 'total')
  }

  /** How long (ms) a rebuild charged to `writer` must still wait; 0 when it may run now. */
  wait(writer: string): number {
    const now = performance.now()
    let until = 0
    for (const key of [writer, ALL]) {
      const next = this.#next.get(key)
      if (next === undefined) continue
      if (next <= now) this.#next.delete(key)
      else until = Math.max(until, next - now)
    }
    return until
  }

  /** Runs `rebuild` (now: the caller waited {@link RebuildBudget.wait}) and charges its time to `writer`. */
  charge<T>(writer: string, rebuild: () => T): T {
    const start = performance.now()
    try {
      return rebuild()
    } finally {
      const end = performance.now()
      const took = end - start
      this.#push(writer, end + took * (1 / this.#perWriter - 1))
      this.#push(ALL, end + took * (1 / this.#total - 1))
    }
  }

  #push(key: string, next: number): void {
    this.#next.set(key, Math.max(next, this.#next.get(key) ?? 0))
  }
}
