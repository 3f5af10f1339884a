import { describe, expect, it } from 'vitest'
import { WeftError } from '../../src/index.js'
import { Reassembler, decodeMessage, splitMessage } from '../../src/protocol/index.js'

const payload = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7) & 0xff)

const pieces = (message: Uint8Array, limit: number) =>
  splitMessage(message, limit, 3).map((m) => {
    const d = decodeMessage(m)
    if (d.type !== 'chunk') throw new Error('expected a chunk')
    return d
  })

describe('chunking', () => {
  it('SYNC-5.1 a message at or under the limit is not wrapped; a larger one splits into pieces under it', () => {
    const small = payload(100)
    expect(splitMessage(small, 100, 1)).toEqual([small])
    const big = payload(100_000)
    const parts = splitMessage(big, 16 * 1024, 1)
    expect(parts.length).toBeGreaterThan(6)
    for (const p of parts) expect(p.length).toBeLessThanOrEqual(16 * 1024)
  })

  it('SYNC-5.2 reassembly tolerates reordering and duplicates', () => {
    const big = payload(50_000)
    const ps = pieces(big, 4096)
    const shuffled = [...ps].reverse()
    shuffled.splice(2, 0, ps[3]!)
    const r = new Reassembler({ maxMessageSize: 1 << 20 })
    let out: Uint8Array | null = null
    for (const p of shuffled) {
      const res = r.add(p.id, p.total, p.offset, p.data)
      if (res) out = res
    }
    expect(out && [...out]).toEqual([...big])
    expect(r.bufferedBytes).toBe(0)
  })

  it('SYNC-5.4 a message declared larger than the maximum is refused before buffering', () => {
    const r = new Reassembler({ maxMessageSize: 1000 })
    expect(() => r.add(1, 1001, 0, payload(10))).toThrow(/exceeds/)
    expect(r.bufferedBytes).toBe(0)
  })

  it('SYNC-5.3 inconsistent pieces are malformed', () => {
    const r = new Reassembler({ maxMessageSize: 1000 })
    r.add(1, 100, 0, payload(10))
    expect(() => r.add(1, 200, 10, payload(10))).toThrow(WeftError)
    const r2 = new Reassembler({ maxMessageSize: 1000 })
    r2.add(1, 20, 0, payload(15))
    expect(() => r2.add(1, 20, 10, payload(10))).toThrow(/overlap/)
  })

  it('SYNC-5.5 at most maxPending partial messages are buffered (lost chunks do not leak memory)', () => {
    const r = new Reassembler({ maxMessageSize: 1000, maxPending: 2 })
    r.add(1, 100, 0, payload(10))
    r.add(2, 100, 0, payload(10))
    r.add(3, 100, 0, payload(10))
    expect(r.bufferedBytes).toBe(200)
    expect(r.progress(1)).toBe(0)
    expect(r.progress(3)).toBe(10)
  })

  it('SYNC-5.6 a message declared at 32 MiB is not allocated up front: its buffer grows with the pieces', () => {
    const r = new Reassembler({ maxMessageSize: 64 * 1024 * 1024 })
    r.add(1, 32 * 1024 * 1024, 0, payload(1000))
    expect(r.bufferedBytes).toBeLessThanOrEqual(16 * 1024)
    const big = payload(300_000)
    const ps = pieces(big, 4096)
    const r2 = new Reassembler({ maxMessageSize: 1 << 20, ordered: true })
    let out: Uint8Array | null = null
    for (const p of ps) {
      out = r2.add(p.id, p.total, p.offset, p.data)
      const received = r2.progress(p.id)
      if (!out) expect(r2.bufferedBytes).toBeLessThanOrEqual(Math.max(16 * 1024, 2 * received))
    }
    expect(out && Buffer.from(out).equals(Buffer.from(big))).toBe(true)
    expect(r2.bufferedBytes).toBe(0)
  })

  it('SYNC-5.6 ordered: a piece that does not continue where the last ended is malformed', () => {
    const r = new Reassembler({ maxMessageSize: 1 << 20, ordered: true })
    expect(() => r.add(1, 1000, 500, payload(100))).toThrow(/expected 0/)
    r.add(2, 1000, 0, payload(100))
    expect(() => r.add(2, 1000, 300, payload(100))).toThrow(/expected 100/)
    expect(r.bufferedBytes).toBe(0)
    expect(() => r.add(3, 1000, 990, payload(20))).toThrow(WeftError)
  })
})
