import { Counter, type OpenMetricsContentType, type PrometheusContentType, type Registry } from 'prom-client'

/** Label values of one sample, e.g. `{ endpoint: 'relay' }`. */
export type Labels = Readonly<Record<string, string>>

/** A prom-client registry of either exposition format (Prometheus text, the default, or OpenMetrics). */
export type PromRegistry = Registry<PrometheusContentType> | Registry<OpenMetricsContentType>

/** One sample of a {@link FastCounter}, resolved once so that hot paths increment it without a label lookup. */
export class CounterHandle {
  /** The sample's value: a plain number, so `handle.value += n` costs what an addition costs. */
  value = 0

  /** Adds `n` (default 1). */
  inc(n = 1): void {
    this.value += n
  }
}

const NO_LABELS: Labels = Object.freeze({})

const isEmpty = (labels: Labels): boolean => {
  for (const _ in labels) return false
  return true
}

/** A key for a label set: its values in the order of the counter's label names. */
const keyOf = (labelNames: readonly string[], labels: Labels): string => {
  let key = ''
  for (const name of labelNames) key += `${labels[name] ?? ''}\u0000`
  return key
}

/**
 * A prom-client counter whose samples are {@link CounterHandle}s: the server increments plain numbers, and the
 * counter copies them into the registry when it is scraped (its `collect()`).
 *
 * Why not prom-client's own `labels(...).inc()`: a prom-client child re-hashes and re-validates its labels on every
 * increment (about 100-250 ns and a string allocated per call), and the relay counts every message in and out per
 * connection. A handle costs one addition and allocates nothing.
 */
export class FastCounter {
  /**
   * The prom-client counter in the registry, to read (the registry's `metrics()`, its own `get()`); increment the
   * handles instead: each scrape sets it from them.
   */
  readonly metric: Counter
  readonly #name: string
  readonly #labelNames: readonly string[]
  readonly #samples = new Map<string, { readonly labels: Labels; readonly handle: CounterHandle }>()
  /** The one sample of a counter without labels (its `inc()` skips the lookup). */
  readonly #root: CounterHandle | null

  /** Registers `name` in `registry`; `labelNames` are every label its samples may carry. */
  constructor(registry: PromRegistry, name: string, help: string, labelNames: readonly string[] = []) {
    this.#name = name
    this.#labelNames = labelNames
    const samples = this.#samples
    this.metric = new Counter({
      name,
      help,
      labelNames,
      registers: [registry],
      collect(this: Counter) {
        this.reset()
        for (const { labels, handle } of samples.values()) this.inc(labels, handle.value)
      },
    })
    this.#root = labelNames.length === 0 ? this.labels(NO_LABELS) : null
  }

  /** The sample with these labels, to keep and increment directly (no label lookup per increment). */
  labels(labels: Labels = NO_LABELS): CounterHandle {
    for (const name in labels) {
      if (!this.#labelNames.includes(name)) throw new Error(`${this.#name} has no label ${name}`)
    }
    const key = keyOf(this.#labelNames, labels)
    let sample = this.#samples.get(key)
    if (!sample) {
      sample = { labels: { ...labels }, handle: new CounterHandle() }
      this.#samples.set(key, sample)
    }
    return sample.handle
  }

  /** Adds `n` (default 1) to the sample with these labels. */
  inc(labels: Labels = NO_LABELS, n = 1): void {
    if (this.#root && isEmpty(labels)) this.#root.value += n
    else this.labels(labels).value += n
  }

  /** The current value of one sample, synchronously (prom-client's `get()` is asynchronous). */
  get(labels: Labels = NO_LABELS): number {
    return this.#samples.get(keyOf(this.#labelNames, labels))?.handle.value ?? 0
  }
}
