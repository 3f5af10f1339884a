import { describe, expect, it } from 'vitest'
import { CloseCode } from '@weft/core'
import { FairSender, type FairSenderSocket } from '../../src/workspace/FairSender.js'
import type { SharedMessage } from '../../src/relay/SharedMessage.js'

/** A socket whose buffer the test empties by hand. */
class FakeSocket implements FairSenderSocket {
  open = true
  bufferedAmount = 0
  readonly sent: Array<Uint8Array | SharedMessage> = []
  closedWith: number | null = null
  #drained: Array<() => void> = []

  send(message: Uint8Array | SharedMessage): boolean {
    this.sent.push(message)
    this.bufferedAmount += message.byteLength
    return true
  }

  close(code: number): void {
    this.open = false
    this.closedWith = code
  }

  whenDrained = (fn: () => void): void => void this.#drained.push(fn)

  /** The peer read everything. */
  drain(): void {
    this.bufferedAmount = 0
    const fns = this.#drained
    this.#drained = []
    for (const fn of fns) fn()
  }
}

const msg = (tag: number, size: number): Uint8Array => new Uint8Array(size).fill(tag)
const tags = (socket: FakeSocket): number[] => socket.sent.map((m) => (m as Uint8Array)[0] as number)

describe('FairSender', () => {
  it('WS-RELAY-5: queues are drained round-robin: a small update waits behind one chunk of a large catch-up, not all of it', () => {
    const socket = new FakeSocket()
    const sender = new FairSender(socket, {
      whenDrained: socket.whenDrained,
      maxBufferedBytes: 64 << 20,
      lowWaterBytes: 1000,
    })
    // Document 1's catch-up: 20 chunks of 4 KB, pushed at once (as the per-document protocol chunks an answer).
    for (let i = 0; i < 20; i++) expect(sender.push('big', msg(1, 4000))).toBe(true)
    // The first chunk went out; the socket is over its low-water mark, the rest waits.
    expect(tags(socket)).toEqual([1])
    // Document 2's small update and document 3's arrive meanwhile.
    sender.push('small', msg(2, 10))
    sender.push('other', msg(3, 10))
    socket.drain()
    // One message per document per turn: the small ones go right after the next chunk.
    expect(tags(socket)).toEqual([1, 1])
    socket.drain()
    expect(tags(socket).slice(0, 4)).toEqual([1, 1, 2, 3])
    while (socket.sent.length < 22) socket.drain()
    expect(tags(socket).filter((t) => t === 1)).toHaveLength(20)
    expect(sender.queuedBytes).toBe(0)
  })

  it('WS-RELAY-5: what a socket holds (queued and buffered) follows the rule of a room socket: past it, SlowConsumer', () => {
    const socket = new FakeSocket()
    const sender = new FairSender(socket, {
      whenDrained: socket.whenDrained,
      maxBufferedBytes: 10_000,
      lowWaterBytes: 1000,
    })
    for (let i = 0; i < 6; i++) expect(sender.push('d', msg(1, 2000))).toBe(true)
    expect(socket.closedWith).toBeNull()
    // 12 KB held: the next push finds more than the allowance (10 KB, or twice the largest message) held.
    expect(sender.push('d', msg(1, 10))).toBe(false)
    expect(socket.closedWith).toBe(CloseCode.SlowConsumer)
  })

  it('WS-RELAY-5: a large message alone is not a slow consumer (twice the largest message held is allowed)', () => {
    const socket = new FakeSocket()
    const sender = new FairSender(socket, {
      whenDrained: socket.whenDrained,
      maxBufferedBytes: 1000,
      lowWaterBytes: 100,
    })
    expect(sender.push('d', msg(1, 50_000))).toBe(true)
    expect(sender.push('e', msg(2, 10))).toBe(true)
    expect(socket.closedWith).toBeNull()
    socket.drain()
    expect(tags(socket)).toEqual([1, 2])
  })

  it('WS-RELAY-5: drop forgets a document queue, whenSent resolves once its queue is written or dropped', async () => {
    const socket = new FakeSocket()
    const sender = new FairSender(socket, {
      whenDrained: socket.whenDrained,
      maxBufferedBytes: 1 << 20,
      lowWaterBytes: 100,
    })
    sender.push('a', msg(1, 200))
    sender.push('a', msg(1, 200))
    sender.push('b', msg(2, 200))
    const bSent = sender.whenSent('b')
    const aGone = sender.whenSent('a')
    sender.drop('a')
    await aGone
    socket.drain()
    await bSent
    expect(tags(socket)).toEqual([1, 2])
    expect(sender.queuedBytes).toBe(0)
  })
})
