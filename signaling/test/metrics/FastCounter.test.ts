import fc from 'fast-check'
import { Counter, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { FastCounter } from '../../src/metrics/FastCounter.js'

const LABEL_NAMES = ['endpoint', 'code'] as const
const labelSet = fc.record(
  {
    endpoint: fc.constantFrom('relay', 'signal', 'weird "quoted"\nvalue'),
    code: fc.constantFrom('4001', '4402', '\\'),
  },
  { requiredKeys: [] },
)
const step = fc.record({ labels: labelSet, n: fc.oneof(fc.constant(1), fc.integer({ min: 0, max: 1e6 })) })

describe('FastCounter (own code beside prom-client, docs/architecture.md: tested against the library)', () => {
  it('HTTP-2.1: any sequence of increments scrapes exactly as a prom-client Counter fed the same increments', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 40 }), fc.boolean(), async (steps, viaHandles) => {
        const fastRegistry = new Registry()
        const promRegistry = new Registry()
        const fast = new FastCounter(fastRegistry, 'weft_test_total', 'A test counter.', LABEL_NAMES)
        const prom = new Counter({
          name: 'weft_test_total',
          help: 'A test counter.',
          labelNames: LABEL_NAMES,
          registers: [promRegistry],
        })
        for (const { labels, n } of steps) {
          // Both ways the server increments: a handle kept from labels(), or inc() with the labels each time.
          if (viaHandles) fast.labels(labels).inc(n)
          else fast.inc(labels, n)
          prom.inc(labels, n)
        }
        expect(await fastRegistry.metrics()).toBe(await promRegistry.metrics())
        // A second scrape repeats the values: collect() resets before copying, it never adds twice.
        expect(await fastRegistry.metrics()).toBe(await promRegistry.metrics())
      }),
      { numRuns: 200 },
    )
  })

  it('HTTP-2.1: a counter without labels scrapes as prom-client does, before and after increments', async () => {
    const fastRegistry = new Registry()
    const promRegistry = new Registry()
    const fast = new FastCounter(fastRegistry, 'weft_plain_total', 'Plain.')
    const prom = new Counter({ name: 'weft_plain_total', help: 'Plain.', registers: [promRegistry] })
    expect(await fastRegistry.metrics()).toBe(await promRegistry.metrics())
    fast.inc()
    fast.labels().inc(41)
    prom.inc()
    prom.inc(41)
    expect(await fastRegistry.metrics()).toBe(await promRegistry.metrics())
    expect(fast.get()).toBe(42)
  })

  it('refuses a label the counter does not declare, as prom-client does', () => {
    const fast = new FastCounter(new Registry(), 'weft_strict_total', 'Strict.', ['endpoint'])
    expect(() => fast.labels({ room: 'x' })).toThrow(/no label room/)
  })
})
