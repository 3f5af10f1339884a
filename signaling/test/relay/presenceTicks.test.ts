import { afterEach, describe, expect, it, vi } from 'vitest'
import { decodeMessage } from '@weft/core/protocol'
import { AwarenessTable, encodeAwarenessEntries } from '../../src/relay/AwarenessTable.js'
import { PresenceTicker } from '../../src/relay/PresenceTicker.js'
import type { RelayPeer, RelayRoom } from '../../src/relay/RelayRoom.js'
import { bytesOf } from '../../src/relay/SharedMessage.js'
import { roomServices, testRoom } from './unit/memoryRelay.js'

afterEach(() => {
  vi.useRealTimers()
})

/** A member that notes the (fake) time of every presence message it is sent. */
const member = (times: number[]): RelayPeer => ({
  sendMessage: (message) => {
    if (decodeMessage(bytesOf(message)).type === 'awareness') times.push(performance.now())
  },
})

/** What RelayConnection does with an awareness message from `from`: apply it, broadcast its news to the room. */
const receive = (room: RelayRoom, from: RelayPeer, update: Uint8Array): void => {
  const applied = room.awareness.apply(update, from)
  if (applied.ok && applied.news) room.awareness.broadcast(applied.news)
}

describe('presence: the rooms of a relay end their windows on shared ticks (RELAY-6.8)', () => {
  it('RELAY-6.8: ten busy rooms of 20 started at different moments send together: 4 presence wakeups a second for all of them, not 40', () => {
    vi.useFakeTimers()
    const services = roomServices()
    const rooms = Array.from({ length: 10 }, (_, k) => testRoom(`r${k}`, null, services))
    /** When each room's first member was sent presence (one member per room is enough: all get the same sends). */
    const times = rooms.map(() => [] as number[])
    const members = rooms.map((room, k) =>
      Array.from({ length: 20 }, (_, i) => {
        const m = member(i === 0 ? (times[k] as number[]) : [])
        room.joined(m)
        return m
      }),
    )
    const clocks = rooms.map(() => new Array<number>(20).fill(0))
    const start = performance.now()
    // 5 s: room k starts 23 ms after room k-1; each member changes its cursor every 50 ms, phases spread.
    for (let t = 0; t < 5000; t++) {
      rooms.forEach((room, k) => {
        if (t < k * 23) return
        members[k]?.forEach((m, i) => {
          if ((t + i * 3) % 50 !== 0) return
          const clock = ++(clocks[k] as number[])[i]!
          receive(room, m, encodeAwarenessEntries([[k * 100 + i + 1, clock, `{"x":${t}}`]]))
        })
      })
      vi.advanceTimersByTime(1)
    }
    vi.advanceTimersByTime(500)
    // Every room sent at once when its first change came (a quiet room), then once per window, on the ticks.
    const windowSends = new Set<number>()
    for (const sends of times) {
      expect(sends.length).toBeGreaterThanOrEqual(19)
      for (const at of sends.slice(1)) windowSends.add(Math.round(at))
    }
    // The window sends of all ten rooms fall on the relay's 250 ms ticks: at most 5000 / 250 + 2 moments. With a
    // timer per room they fell on each room's own phase: about ten times as many.
    expect(windowSends.size).toBeLessThanOrEqual(5500 / 250 + 1)
    for (const at of windowSends) expect(at % 250).toBe(0)
    expect(performance.now() - start).toBeGreaterThanOrEqual(5000)
  })

  it('RELAY-6.8: a change waits at most one window while the room is busy and at most one and a half after a quiet spell; sends are at least half a window apart', () => {
    vi.useFakeTimers()
    // Whatever the moment the room turns busy, relative to the ticks.
    for (let offset = 0; offset < 250; offset += 37) {
      const sent: number[] = []
      const table = new AwarenessTable(
        {},
        () => 20,
        () => sent.push(performance.now()),
        new PresenceTicker(),
      )
      vi.advanceTimersByTime(PresenceTicker.tickAt(performance.now(), 250) - performance.now() + offset)
      const owner = {}
      const changes: number[] = []
      for (let clock = 1; clock <= 100; clock++) {
        changes.push(performance.now())
        const applied = table.apply(encodeAwarenessEntries([[1, clock, `{"c":${clock}}`]]), owner)
        if (applied.ok && applied.news) table.broadcast(applied.news)
        vi.advanceTimersByTime(10)
      }
      vi.advanceTimersByTime(500)
      // The first change went out at once, the second waited for the first window: at most 1.5 windows.
      expect(sent[0]).toBe(changes[0])
      expect((sent[1] as number) - (changes[1] as number)).toBeLessThanOrEqual(375)
      // From then on the windows follow each other on the ticks, one window apart; never under half a window.
      expect((sent[1] as number) - (sent[0] as number)).toBeGreaterThanOrEqual(125)
      for (let i = 2; i < sent.length; i++) expect((sent[i] as number) - (sent[i - 1] as number)).toBe(250)
      // A change within the first window waited at most 1.5 windows, every later one at most one window.
      for (const at of changes.slice(1)) {
        const out = sent.find((s) => s >= at) as number
        expect(out - at).toBeLessThanOrEqual(at < (sent[1] as number) ? 375 : 250)
      }
    }
  })

  it('RELAY-6.8: a tick whose function throws still runs the others, and the next tick comes', () => {
    vi.useFakeTimers()
    const ticker = new PresenceTicker()
    const ran: string[] = []
    ticker.schedule(100, 0, () => {
      throw new Error('boom')
    })
    ticker.schedule(100, 0, () => ran.push('a'))
    ticker.schedule(100, 150, () => ran.push('b'))
    expect(ticker.pending).toBe(2)
    expect(() => vi.advanceTimersByTime(100)).toThrow('boom')
    expect(ran).toEqual(['a'])
    vi.advanceTimersByTime(200)
    expect(ran).toEqual(['a', 'b'])
    expect(ticker.pending).toBe(0)
  })
})
