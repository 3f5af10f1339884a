import { describe, expect, it } from 'vitest'
import { TokenBucket } from '../../src/connection/TokenBucket.js'

describe('TokenBucket', () => {
  it('CONN-2: allows a burst, then the refill rate', () => {
    let now = 0
    const b = new TokenBucket(10, 5, () => now)
    for (let i = 0; i < 5; i++) expect(b.take()).toBe(true)
    expect(b.take()).toBe(false)
    now += 100 // one token at 10/s
    expect(b.take()).toBe(true)
    expect(b.take()).toBe(false)
    now += 10_000
    for (let i = 0; i < 5; i++) expect(b.take()).toBe(true)
    expect(b.take()).toBe(false)
  })

  it('CONN-2: a request larger than what is left spends nothing', () => {
    const now = 0
    const b = new TokenBucket(1, 100, () => now)
    expect(b.take(60)).toBe(true)
    expect(b.take(60)).toBe(false)
    expect(b.take(40)).toBe(true)
  })
})
