import { describe, expect, it } from 'vitest'
import { MetricsRegistry } from '../../src/metrics/MetricsRegistry.js'

describe('MetricsRegistry', () => {
  it('HTTP-2: renders counters, gauges and histograms in the Prometheus text format', () => {
    const r = new MetricsRegistry()
    const c = r.counter('x_total', 'Things.')
    c.inc({ kind: 'a"b' }, 2)
    r.gauge('g', 'A gauge.', () => [[{ endpoint: 'relay' }, 3]])
    const h = r.histogram('h_seconds', 'Latency.', [0.1, 1])
    h.observe(0.05)
    h.observe(0.5)
    h.observe(5)
    expect(r.render()).toBe(
      [
        '# HELP x_total Things.',
        '# TYPE x_total counter',
        'x_total{kind="a\\"b"} 2',
        '# HELP g A gauge.',
        '# TYPE g gauge',
        'g{endpoint="relay"} 3',
        '# HELP h_seconds Latency.',
        '# TYPE h_seconds histogram',
        'h_seconds_bucket{le="0.1"} 1',
        'h_seconds_bucket{le="1"} 2',
        'h_seconds_bucket{le="+Inf"} 3',
        'h_seconds_sum 5.55',
        'h_seconds_count 3',
        '',
      ].join('\n'),
    )
    expect(() => r.counter('x_total', 'again')).toThrow()
  })
})
