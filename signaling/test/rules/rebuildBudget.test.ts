/** RULES-4.9: the duty cycle that bounds how much of the relay's time rebuilds after refusals take. */
import { performance } from 'node:perf_hooks'
import { describe, expect, it } from 'vitest'
import { RebuildBudget } from '../../src/relay/rules/RebuildBudget.js'

/** A rebuild that takes at least `ms` of wall-clock time. */
const busy = (ms: number) => () => {
  const end = performance.now() + ms
  while (performance.now() < end);
}

describe('RebuildBudget (RULES-4.9)', () => {
  it('RULES-4.9: a rebuild charged to a writer makes its next one wait 4 times as long, anyone else 1 time', () => {
    const budget = new RebuildBudget()
    expect(budget.wait('sub:mallory')).toBe(0)
    const start = performance.now()
    budget.charge('sub:mallory', busy(20))
    const took = performance.now() - start
    const mallory = budget.wait('sub:mallory')
    const carol = budget.wait('sub:carol')
    // At 20 % per writer: 4 x the rebuild's time; at 50 % for all writers: 1 x (less what has passed since), so
    // mallory waits 3 x the rebuild (at least 60 ms) longer than carol, unless carol's wait is over already.
    expect(mallory).toBeGreaterThan(0)
    expect(mallory).toBeLessThanOrEqual(4 * took + 1)
    expect(carol).toBeLessThanOrEqual(took + 1)
    if (carol > 0) expect(mallory - carol).toBeGreaterThanOrEqual(60)
  })

  it('RULES-4.9: the shares are configurable; a share of 1 never waits; an invalid share is refused', () => {
    const free = new RebuildBudget({ perWriter: 1, total: 1 })
    free.charge('sub:a', busy(5))
    expect(free.wait('sub:a')).toBe(0)
    expect(() => new RebuildBudget({ perWriter: 0 })).toThrow(RangeError)
    expect(() => new RebuildBudget({ total: 1.5 })).toThrow(RangeError)
  })

  it('RULES-4.9: a rebuild that throws is charged all the same', () => {
    const budget = new RebuildBudget()
    expect(() =>
      budget.charge('sub:a', () => {
        busy(5)()
        throw new Error('broken state')
      }),
    ).toThrow('broken state')
    expect(budget.wait('sub:a')).toBeGreaterThan(0)
  })
})
