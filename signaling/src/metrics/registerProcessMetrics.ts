import { collectDefaultMetrics, Gauge, Registry, type Metric } from 'prom-client'

let shared: readonly Metric[] | null = null

/**
 * How often the event-loop lag metrics (`nodejs_eventloop_lag_p99_seconds` and the other percentiles) sample the
 * loop, in milliseconds. prom-client's default, 10 ms, is a timer that wakes the process 100 times a second whether
 * or not anything happens: an idle `weft serve` used 10.3 ms of CPU a second with it on a shared 2-core VM, 2.7 ms
 * at 100 ms, 1.4 ms at 1 s; over the light fan-out's 10 s that is about 2.5 µs per delivered update on a quiet
 * machine (docs/guides/server.md, "Performance"). At 100 ms a scrape every 15 s still rests on 150 samples, and a
 * block of the loop longer than 100 ms is seen by every sample it overlaps, as before.
 */
export const EVENT_LOOP_SAMPLE_MS = 100

/**
 * The process metrics, created once per process: prom-client's default metrics (`process_cpu_seconds_total`,
 * `process_resident_memory_bytes`, `nodejs_heap_size_used_bytes`, event loop lag, GC, ...) and
 * `nodejs_heap_used_bytes`, the name Weft exported before it used prom-client (kept for existing dashboards).
 *
 * Once, because the values are the process's, whichever server shows them, and because `collectDefaultMetrics`
 * starts an event loop monitor (a timer, every {@link EVENT_LOOP_SAMPLE_MS} ms) and a GC observer that are never
 * stopped: doing it per server would add one of each for every server a process ever creates.
 */
const processMetrics = (): readonly Metric[] => {
  if (shared) return shared
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS })
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
