import { describe, expect, it } from 'vitest'
import { SendGate } from '../../src/relay/SendGate.js'

describe('SendGate (RELAY-2.5)', () => {
  it('runs at most `limit` sends at once, the others in arrival order as slots are released', () => {
    const gate = new SendGate(2)
    const started: string[] = []
    const releases = new Map<string, () => void>()
    for (const name of ['a', 'b', 'c', 'd']) {
      gate.acquire((release) => {
        started.push(name)
        releases.set(name, release)
      })
    }
    expect(started).toEqual(['a', 'b'])
    expect([gate.active, gate.waiting]).toEqual([2, 2])
    releases.get('b')?.()
    expect(started).toEqual(['a', 'b', 'c'])
    // Releasing twice frees one slot only.
    releases.get('b')?.()
    expect(started).toEqual(['a', 'b', 'c'])
    releases.get('a')?.()
    expect(started).toEqual(['a', 'b', 'c', 'd'])
    releases.get('c')?.()
    releases.get('d')?.()
    expect([gate.active, gate.waiting]).toEqual([0, 0])
  })

  it('a send released synchronously lets the next one start at once', () => {
    const gate = new SendGate(1)
    const order: number[] = []
    for (let i = 0; i < 5; i++) {
      gate.acquire((release) => {
        order.push(i)
        release()
      })
    }
    expect(order).toEqual([0, 1, 2, 3, 4])
    expect(gate.active).toBe(0)
  })
})
