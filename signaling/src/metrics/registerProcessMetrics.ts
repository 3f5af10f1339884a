import { collectDefaultMetrics, Gauge, Registry, type Metric } from 'prom-client'

let shared: readonly Metric[] | null = null

/**
 * How often the event-loop lag metrics (`nodejs_eventloop_lag_p99_seconds` and the other percentiles) sample the
 * loop, in milliseconds (HTTP-2.3). Each sample is a timer that wakes the process whether or not anything happens:
 * prom-client's default, 10 ms, cost an idle `weft serve` 10.3 ms of CPU a second on a shared 2-core VM, 2.7 ms at
 * 100 ms, 1.4 ms at 1 s. On a busy relay a wakeup costs 150-200 µs there: at 100 ms the monitor's 150 wakeups were
 * a twentieth of the relay's CPU in the presence workload (issue 12.11; docs/guides/server.md, "Performance"). At
 * 1 s a scrape every 15 s rests on 15 samples: a block of the loop of a second or more is still seen by every
 * sample it overlaps, a shorter one only by the sample that falls in it (a 200 ms block is seen one time in five),
 * so the percentiles say less about short blocks. `nodejs_eventloop_lag_seconds` (the lag measured at each scrape)
 * is unchanged.
 */
export const EVENT_LOOP_SAMPLE_MS = 1000

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
