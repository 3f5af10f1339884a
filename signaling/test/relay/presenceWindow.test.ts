import { afterEach, describe, expect, it, vi } from 'vitest'
import { decodeMessage, readAwarenessEntries } from '@weft/core/protocol'
import {
  AwarenessTable,
  DEFAULT_PRESENCE_LIMITS,
  encodeAwarenessEntries,
  presenceWindowMs,
} from '../../src/relay/AwarenessTable.js'
import { PresenceTicker } from '../../src/relay/PresenceTicker.js'
import type { RelayPeer, RelayRoom } from '../../src/relay/RelayRoom.js'
import { bytesOf } from '../../src/relay/SharedMessage.js'
import * as Y from 'yjs'
import { nextOf, sendStep1, startMemoryRelay, testRoom } from './unit/memoryRelay.js'

afterEach(() => {
  vi.useRealTimers()
})

/** A member of a room that counts the presence messages (writes) it is sent and notes when each state arrived. */
interface Member extends RelayPeer {
  writes: number
  /** `clientID:clock` of every state received, with the (fake) time it arrived. */
  readonly arrived: Map<string, number>
}

const member = (): Member => {
  const m: Member = {
    writes: 0,
    arrived: new Map(),
    sendMessage: (message) => {
      const decoded = decodeMessage(bytesOf(message))
      if (decoded.type !== 'awareness') return
      m.writes++
      for (const e of readAwarenessEntries(decoded.update))
        m.arrived.set(`${e.clientID}:${e.clock}`, Date.now())
    },
  }
  return m
}

/** What RelayConnection does with an awareness message from `from`: apply it, broadcast its news to the room. */
const receive = (room: RelayRoom, from: RelayPeer, update: Uint8Array): void => {
  const applied = room.awareness.apply(update, from)
  if (applied.ok && applied.news) room.awareness.broadcast(applied.news)
}

/**
 * A room of `size` members, each moving its cursor every `everyMs` (phases spread evenly) for `forMs` of fake time.
 * Returns the members and when each change was sent (`clientID:clock` to time).
 */
const busyRoom = (size: number, everyMs: number, forMs: number) => {
  vi.useFakeTimers()
  const room = testRoom()
  const members = Array.from({ length: size }, () => member())
  for (const m of members) room.joined(m)
  const sentAt = new Map<string, number>()
  const clocks = members.map(() => 0)
  for (let t = 0; t < forMs; t++) {
    members.forEach((m, i) => {
      if ((t + Math.floor((i * everyMs) / size)) % everyMs !== 0) return
      const clock = ++clocks[i]!
      sentAt.set(`${i + 1}:${clock}`, Date.now())
      receive(room, m, encodeAwarenessEntries([[i + 1, clock, `{"cursor":{"x":${t},"y":${i}}}`]]))
    })
    vi.advanceTimersByTime(1)
  }
  vi.advanceTimersByTime(DEFAULT_PRESENCE_LIMITS.maxCoalesceMs)
  return { room, members, sentAt, clocks }
}

/** The largest and the mean delay between a change being sent and reaching `m`, over the changes `m` received. */
const delays = (m: Member, sentAt: ReadonlyMap<string, number>): { max: number; mean: number } => {
  let max = 0
  let sum = 0
  for (const [key, at] of m.arrived) {
    const d = at - (sentAt.get(key) ?? at)
    max = Math.max(max, d)
    sum += d
  }
  return { max, mean: sum / m.arrived.size }
}

describe('presence: the window grows with the room (RELAY-6.7)', () => {
  it('RELAY-6.7: the window is connections x 1000 / writesPerSecond ms, between coalesceMs and maxCoalesceMs', () => {
    const limits = DEFAULT_PRESENCE_LIMITS
    expect([1, 2, 8, 10, 16, 20, 50, 1000].map((n) => presenceWindowMs(limits, n))).toEqual([
      100, 100, 100, 125, 200, 250, 250, 250,
    ])
    // No coalescing stays no coalescing; a ceiling at or under coalesceMs keeps every room at coalesceMs.
    expect(presenceWindowMs({ ...limits, coalesceMs: 0 }, 20)).toBe(0)
    expect(presenceWindowMs({ ...limits, maxCoalesceMs: 100 }, 20)).toBe(100)
    expect(presenceWindowMs({ ...limits, maxCoalesceMs: 0 }, 20)).toBe(100)
    // A table without a member count uses coalesceMs.
    expect(new AwarenessTable().windowMs).toBe(100)
    expect(new AwarenessTable({}, () => 20).windowMs).toBe(250)
  })

  it('RELAY-6.7: a room of 20 moving cursors costs each connection at most one write per 250 ms, and every latest state arrives', () => {
    // 20 members, each changing its presence every 50 ms for 5 s: 2,000 changes, 100 per member.
    const { members, clocks } = busyRoom(20, 50, 5000)
    for (const m of members) {
      // One write at once (the quiet room), then at most one per 250 ms window: 1 + 5000 / 250 (+1 for the last).
      // With a fixed 100 ms window it was 50 per connection.
      expect(m.writes).toBeLessThanOrEqual(22)
      // Nothing is lost by merging: each member's latest state reached everyone.
      clocks.forEach((clock, i) => expect(m.arrived.has(`${i + 1}:${clock}`)).toBe(true))
    }
    const total = members.reduce((n, m) => n + m.writes, 0)
    // The room's budget: 80 writes per second (+ the leading send to each member).
    expect(total).toBeLessThanOrEqual(80 * 5 + 2 * 20)
  })

  it('RELAY-6.7: a small room keeps the 100 ms window (its cursors wait no longer)', () => {
    const { members } = busyRoom(5, 50, 5000)
    for (const m of members) {
      // 5000 / 100 windows: the small room is not slowed down.
      expect(m.writes).toBeGreaterThanOrEqual(45)
      expect(m.writes).toBeLessThanOrEqual(52)
    }
  })

  it('RELAY-6.7: added delay is at most the window: 100 ms for 5 members, 125 ms for 10, 250 ms for 20', () => {
    for (const [size, window] of [
      [5, 100],
      [10, 125],
      [20, 250],
    ] as const) {
      const { members, sentAt } = busyRoom(size, 50, 3000)
      for (const m of members) expect(delays(m, sentAt).max).toBeLessThanOrEqual(window)
      vi.useRealTimers()
    }
  })

  it('RELAY-6.7: the window follows the room as it grows: the next window after a join is the larger one', () => {
    vi.useFakeTimers()
    const room = testRoom()
    const members = Array.from({ length: 20 }, () => member())
    for (const m of members.slice(0, 8)) room.joined(m)
    const first = members[0]!
    expect(room.awareness.windowMs).toBe(100)
    const t0 = performance.now()
    receive(room, first, encodeAwarenessEntries([[1, 1, '{}']]))
    receive(room, first, encodeAwarenessEntries([[1, 2, '{}']]))
    // RELAY-6.8: windows end on the relay's ticks (multiples of the window), the first one at least half a window on.
    const end1 = PresenceTicker.tickAt(t0 + 50, 100)
    vi.advanceTimersByTime(end1 - t0)
    expect(first.writes).toBe(2) // leading send, then the 100 ms window's
    for (const m of members.slice(8)) room.joined(m)
    expect(room.awareness.windowMs).toBe(250)
    // The window started at end1 was armed while the room had 8 members; the next one is 250 ms.
    vi.advanceTimersByTime(100) // the window armed at end1 ends empty
    const t1 = performance.now()
    receive(room, first, encodeAwarenessEntries([[1, 3, '{}']]))
    expect(first.writes).toBe(3) // quiet again: at once
    receive(room, first, encodeAwarenessEntries([[1, 4, '{}']]))
    const end2 = PresenceTicker.tickAt(t1 + 125, 250)
    vi.advanceTimersByTime(end2 - t1 - 3)
    expect(first.writes).toBe(3)
    vi.advanceTimersByTime(3)
    expect(first.writes).toBe(4)
  })

  it('RELAY-6.7: the relay option `presence` sets the window of its rooms (a 100 ms ceiling keeps every room at 100 ms)', async () => {
    for (const [presence, window] of [
      [undefined, 250],
      [{ maxCoalesceMs: 100 }, 100],
      [{ writesPerSecond: 400 }, 100],
    ] as const) {
      const relay = startMemoryRelay({ options: { presence } })
      for (let i = 0; i < 20; i++) {
        const client = relay.connect('room')
        sendStep1(client, new Y.Doc(), null)
        await nextOf(client, 'sync-step2')
      }
      expect(relay.hub.room('room')?.awareness.windowMs).toBe(window)
      await relay.close()
    }
  })
})
