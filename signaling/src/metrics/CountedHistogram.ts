import { Histogram } from 'prom-client'
import type { PromRegistry } from './FastCounter.js'

/** A prom-client histogram (no labels) that also keeps its observation count, readable synchronously. */
export class CountedHistogram {
  /** The prom-client histogram in the registry. */
  readonly metric: Histogram
  #count = 0

  /** Registers `name` in `registry` with these bucket upper bounds. */
  constructor(registry: PromRegistry, name: string, help: string, buckets: readonly number[]) {
    this.metric = new Histogram({ name, help, buckets: [...buckets], registers: [registry] })
  }

  /** Records one observation. */
  observe(value: number): void {
    this.#count++
    this.metric.observe(value)
  }

  /** Number of observations (prom-client's `get()` is asynchronous). */
  get count(): number {
    return this.#count
  }
}
