/** Label values of one sample, e.g. `{ endpoint: 'relay' }`. */
export type Labels = Readonly<Record<string, string>>

interface Metric {
  readonly name: string
  readonly help: string
  readonly type: 'counter' | 'gauge' | 'histogram'
  render(out: string[]): void
}

const labelKey = (labels: Labels): string => {
  const keys = Object.keys(labels).sort()
  if (keys.length === 0) return ''
  return `{${keys.map((k) => `${k}="${escapeLabel(labels[k] ?? '')}"`).join(',')}}`
}

const escapeLabel = (value: string): string =>
  value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')

const formatNumber = (n: number): string =>
  Number.isFinite(n) ? String(n) : n > 0 ? '+Inf' : n < 0 ? '-Inf' : 'NaN'

/** One sample of a {@link Counter}, resolved once so that hot paths increment it without a label lookup. */
export class CounterHandle {
  /** The sample's value. */
  value = 0

  /** Adds `n` (default 1). */
  inc(n = 1): void {
    this.value += n
  }
}

/** A monotonically increasing counter, optionally split by labels. */
export class Counter implements Metric {
  readonly type = 'counter' as const
  readonly #values = new Map<string, CounterHandle>()

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  /** The sample with these labels, to keep and increment directly (no label lookup per increment). */
  labels(labels: Labels = {}): CounterHandle {
    const key = labelKey(labels)
    let handle = this.#values.get(key)
    if (!handle) this.#values.set(key, (handle = new CounterHandle()))
    return handle
  }

  /** Adds `n` (default 1) to the sample with these labels. */
  inc(labels: Labels = {}, n = 1): void {
    this.labels(labels).value += n
  }

  /** The current value of one sample (for tests). */
  get(labels: Labels = {}): number {
    return this.#values.get(labelKey(labels))?.value ?? 0
  }

  render(out: string[]): void {
    if (this.#values.size === 0) out.push(`${this.name} 0`)
    for (const [key, handle] of this.#values) out.push(`${this.name}${key} ${formatNumber(handle.value)}`)
  }
}

/** A gauge whose samples are read from a callback at scrape time. */
export class Gauge implements Metric {
  readonly type = 'gauge' as const

  constructor(
    readonly name: string,
    readonly help: string,
    readonly collect: () => number | ReadonlyArray<readonly [Labels, number]>,
  ) {}

  render(out: string[]): void {
    const value = this.collect()
    if (typeof value === 'number') {
      out.push(`${this.name} ${formatNumber(value)}`)
      return
    }
    for (const [labels, n] of value) out.push(`${this.name}${labelKey(labels)} ${formatNumber(n)}`)
  }
}

/** A histogram with fixed upper bounds (seconds, bytes...). */
export class Histogram implements Metric {
  readonly type = 'histogram' as const
  readonly #bounds: readonly number[]
  readonly #counts: number[]
  #sum = 0
  #count = 0

  constructor(
    readonly name: string,
    readonly help: string,
    bounds: readonly number[],
  ) {
    this.#bounds = [...bounds].sort((a, b) => a - b)
    this.#counts = this.#bounds.map(() => 0)
  }

  /** Records one observation. */
  observe(value: number): void {
    this.#sum += value
    this.#count++
    for (let i = 0; i < this.#bounds.length; i++) {
      if (value <= (this.#bounds[i] ?? Infinity)) this.#counts[i] = (this.#counts[i] ?? 0) + 1
    }
  }

  /** Number of observations (for tests). */
  get count(): number {
    return this.#count
  }

  render(out: string[]): void {
    this.#bounds.forEach((bound, i) => out.push(`${this.name}_bucket{le="${bound}"} ${this.#counts[i] ?? 0}`))
    out.push(`${this.name}_bucket{le="+Inf"} ${this.#count}`)
    out.push(`${this.name}_sum ${formatNumber(this.#sum)}`)
    out.push(`${this.name}_count ${this.#count}`)
  }
}

/** A set of metrics rendered together in the Prometheus text exposition format (version 0.0.4). */
export class MetricsRegistry {
  readonly #metrics: Metric[] = []

  /** Registers and returns a counter. */
  counter(name: string, help: string): Counter {
    return this.#add(new Counter(name, help))
  }

  /** Registers and returns a gauge read from `collect` at scrape time. */
  gauge(name: string, help: string, collect: Gauge['collect']): Gauge {
    return this.#add(new Gauge(name, help, collect))
  }

  /** Registers and returns a histogram with the given bucket upper bounds. */
  histogram(name: string, help: string, bounds: readonly number[]): Histogram {
    return this.#add(new Histogram(name, help, bounds))
  }

  /** The whole registry as Prometheus text. */
  render(): string {
    const out: string[] = []
    for (const metric of this.#metrics) {
      out.push(`# HELP ${metric.name} ${metric.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`)
      out.push(`# TYPE ${metric.name} ${metric.type}`)
      metric.render(out)
    }
    return `${out.join('\n')}\n`
  }

  #add<M extends Metric>(metric: M): M {
    if (this.#metrics.some((m) => m.name === metric.name)) throw new Error(`duplicate metric ${metric.name}`)
    this.#metrics.push(metric)
    return metric
  }
}

/** Content type of {@link MetricsRegistry.render}'s output. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'
