import perfHooks from 'node:perf_hooks'
import { Registry } from 'prom-client'
import { afterEach, describe, expect, it, vi } from 'vitest'

afterEach(() => {
  vi.restoreAllMocks()
})

describe('registerProcessMetrics', () => {
  it('HTTP-2.3: the event-loop lag metrics sample the loop once a second, not every 10 ms (each sample wakes the server)', async () => {
    const monitor = vi.spyOn(perfHooks, 'monitorEventLoopDelay')
    // Imported after the spy: the process metrics are created once per module instance, on first use.
    const { registerProcessMetrics, EVENT_LOOP_SAMPLE_MS } =
      await import('../../src/metrics/registerProcessMetrics.js')
    const registry = new Registry()
    registerProcessMetrics(registry)
    expect(EVENT_LOOP_SAMPLE_MS).toBe(1000)
    expect(monitor).toHaveBeenCalledTimes(1)
    expect(monitor).toHaveBeenCalledWith({ resolution: 1000 })
    // The lag percentiles are still exported.
    const text = await registry.metrics()
    expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds /m)
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m)
    // Once per process: a second registry gets the same metrics, and no second monitor.
    registerProcessMetrics(new Registry())
    expect(monitor).toHaveBeenCalledTimes(1)
  })
})
