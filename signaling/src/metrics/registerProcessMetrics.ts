import { collectDefaultMetrics, Gauge, Registry, type Metric } from 'prom-client'

let shared: readonly Metric[] | null = null

/**
 * The process metrics, created once per process: prom-client's default metrics (`process_cpu_seconds_total`,
 * `process_resident_memory_bytes`, `nodejs_heap_size_used_bytes`, event loop lag, GC, ...) and
 * `nodejs_heap_used_bytes`, the name Weft exported before it used prom-client (kept for existing dashboards).
 *
 * Once, because the values are the process's, whichever server shows them, and because `collectDefaultMetrics`
 * starts an event loop monitor (a 10 ms timer) and a GC observer that are never stopped: doing it per server would
 * add one of each for every server a process ever creates.
 */
const processMetrics = (): readonly Metric[] => {
  if (shared) return shared
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  new Gauge({
    name: 'nodejs_heap_used_bytes',
    help: 'V8 heap in use, in bytes (the same value as nodejs_heap_size_used_bytes; kept for existing dashboards).',
    registers: [registry],
    collect(this: Gauge) {
      this.set(process.memoryUsage().heapUsed)
    },
  })
  // In registration order: some default metrics are set by the collect() of the one registered before them.
  shared = registry
    .getMetricsAsArray()
    .map(({ name }) => registry.getSingleMetric(name))
    .filter((metric): metric is Metric => metric !== undefined)
  return shared
}

/**
 * Registers the process metrics in `registry` (the same metric objects in every registry that gets them: a metric
 * object may belong to several registries). Throws if `registry` already has a metric of one of those names.
 */
export const registerProcessMetrics = (registry: Registry): void => {
  for (const metric of processMetrics()) registry.registerMetric(metric)
}
