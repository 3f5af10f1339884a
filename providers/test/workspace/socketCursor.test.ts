import { describe, expect, it } from 'vitest'
import { seededRandom } from '@weft/core/testing'
import { WorkspaceCursor } from '../../src/workspace/WorkspaceCursor.js'

describe('WorkspaceCursor', () => {
  it('WS-CLIENT-LINK-4 the cursor moves only over a contiguous run of handled or covered numbers', () => {
    const c = new WorkspaceCursor(10)
    expect([c.announce(11), c.announce(12), c.announce(13)]).toEqual([true, true, true])
    expect(c.handled(13)).toBe(false)
    expect(c.handled(11)).toBe(true)
    expect(c.cursor).toBe(11)
    expect(c.handled(12)).toBe(true)
    expect(c.cursor).toBe(13)
  })

  it('WS-CLIENT-LINK-4 a number is reported once; numbers at or below the cursor are old', () => {
    const c = new WorkspaceCursor(3)
    expect(c.announce(3)).toBe(false)
    expect(c.announce(4)).toBe(true)
    expect(c.announce(4)).toBe(false)
    c.handled(4)
    expect(c.announce(4)).toBe(false)
    expect(c.handled(99)).toBe(false) // never announced: ignored
    expect(c.cursor).toBe(4)
  })

  it('WS-CLIENT-LINK-4 a gap stops `known` until a page covers it; the page’s unlisted numbers need nothing', () => {
    const c = new WorkspaceCursor(0)
    c.announce(1)
    c.announce(4) // 2 and 3 missing
    expect(c.known).toBe(1)
    expect(c.gap).toBe(true)
    c.handled(1)
    c.handled(4)
    expect(c.cursor).toBe(1)
    expect(c.covered(4)).toBe(true) // a catch-up page through 4 lists nothing else: 2 and 3 were superseded
    expect(c.gap).toBe(false)
    expect([c.known, c.cursor]).toEqual([4, 4])
  })

  it('WS-CLIENT-LINK-4 a covered number that is pushed after all is reported, and holds the cursor until handled', () => {
    const c = new WorkspaceCursor(0)
    c.announce(5) // a page lists 5, through 6: 1..4 and 6 need nothing
    expect(c.covered(6)).toBe(true)
    expect(c.cursor).toBe(4)
    expect(c.announce(3)).toBe(false) // at or below the cursor
    expect(c.announce(6)).toBe(true) // a push racing the page: a real change after all
    c.handled(5)
    expect(c.cursor).toBe(5)
    c.handled(6)
    expect(c.cursor).toBe(6)
  })

  it('WS-CLIENT-LINK-4 seeded: announcements and handling in any order match a plain model of the rule', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const rand = seededRandom(seed)
      const c = new WorkspaceCursor(0)
      const n = 400
      const seqs = Array.from({ length: n }, (_, i) => i + 1)
      for (let i = n - 1; i > 0; i--) {
        // mostly in order: swap neighbours now and then, as reordered pushes do
        if (rand() < 0.2) [seqs[i], seqs[i - 1]] = [seqs[i - 1]!, seqs[i]!]
      }
      const handled = new Set<number>()
      const announced = new Set<number>()
      for (const seq of seqs) {
        c.announce(seq)
        announced.add(seq)
        for (const h of [...announced].filter((x) => !handled.has(x) && rand() < 0.3)) {
          handled.add(h)
          c.handled(h)
          // The model: the largest run 1..k of numbers all handled, up to the largest contiguous announced number.
          let known = 0
          while (announced.has(known + 1)) known++
          let k = 0
          while (k < known && handled.has(k + 1)) k++
          expect(c.cursor).toBe(k)
        }
      }
      for (const s of seqs) c.handled(s)
      expect([c.cursor, c.known, c.gap]).toEqual([n, n, false])
    }
  })
})
