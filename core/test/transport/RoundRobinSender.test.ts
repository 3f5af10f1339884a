import { describe, expect, it } from 'vitest'
import { RoundRobinSender } from '../../src/transport/RoundRobinSender.js'

/** A connection whose buffer the test empties by hand. */
const connection = () => {
  const sent: Uint8Array[] = []
  let drained: (() => void) | null = null
  let cancelled = 0
  const sink = {
    open: true,
    bufferedAmount: 0,
    send: (m: Uint8Array) => void (sent.push(m), (sink.bufferedAmount += m.byteLength)),
  }
  const sender = new RoundRobinSender(sink, {
    lowWaterBytes: 100,
    whenDrained: (fn) => {
      expect(drained).toBeNull() // one wait at a time
      drained = fn
      return () => void (cancelled++, (drained = null))
    },
  })
  const drain = (): void => {
    sink.bufferedAmount = 0
    const fn = drained
    drained = null
    fn?.()
  }
  return { sink, sent, sender, drain, cancelled: () => cancelled, waitingForDrain: () => drained !== null }
}

const tag = (stream: number, n: number): Uint8Array => Uint8Array.of(stream, n, ...new Array(60).fill(0))
const log = (sent: Uint8Array[]): string[] => sent.map((m) => `${m[0]}.${m[1]}`)

describe('RoundRobinSender (WS-WIRE-5)', () => {
  it('WS-WIRE-5: below the low-water mark a message goes out at once; above it streams take turns, order kept per stream', () => {
    const { sent, sender, drain } = connection()
    for (let i = 0; i < 4; i++) sender.push('big', tag(1, i))
    sender.push('small', tag(2, 0))
    sender.push('small', tag(2, 1))
    // 1.0 and 1.1 fit under 100 bytes buffered (62 + 62 > 100 only after the second).
    expect(log(sent)).toEqual(['1.0', '1.1'])
    drain()
    expect(log(sent)).toEqual(['1.0', '1.1', '1.2', '2.0'])
    drain()
    drain()
    expect(log(sent)).toEqual(['1.0', '1.1', '1.2', '2.0', '1.3', '2.1'])
    expect(sender.waiting).toBe(0)
    expect(sender.queuedBytes).toBe(0)
  })

  it('WS-WIRE-5: dropping a stream forgets its messages, resolves whenSent and cancels the wait when nothing is left', async () => {
    const { sent, sender, sink, cancelled, waitingForDrain } = connection()
    sink.bufferedAmount = 1000
    sender.push('a', tag(1, 0))
    sender.push('a', tag(1, 1))
    const sentA = sender.whenSent('a')
    expect(waitingForDrain()).toBe(true)
    expect(sender.drop('a').map((m) => m[1])).toEqual([0, 1])
    await sentA
    expect(cancelled()).toBe(1)
    expect(sent).toEqual([])
    expect(sender.queuedBytes).toBe(0)
  })

  it('WS-WIRE-5: a connection that closed makes the sender drop what waits', () => {
    const { sent, sender, sink, drain } = connection()
    sink.bufferedAmount = 1000
    sender.push('a', tag(1, 0))
    sink.open = false
    drain()
    expect(sent).toEqual([])
    expect(sender.waiting).toBe(0)
  })
})
