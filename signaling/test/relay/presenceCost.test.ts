import { afterEach, describe, expect, it, vi } from 'vitest'
import {
  encodeAwareness,
  encodeAwarenessEntries as encodeEncoded,
  readAwarenessEntries,
} from '@weft/core/protocol'
import { AwarenessTable, awarenessMessage, encodeAwarenessEntries } from '../../src/relay/AwarenessTable.js'
import { PresenceTicker } from '../../src/relay/PresenceTicker.js'

afterEach(() => {
  vi.restoreAllMocks()
  vi.useRealTimers()
})

const utf8 = new TextEncoder()
const state = (id: number, clock: number, json: string) => encodeAwarenessEntries([[id, clock, json]])

/** Applies `update` from `owner` and broadcasts its news through the table's room send, as the relay does. */
const receive = (table: AwarenessTable, update: Uint8Array, owner: object): void => {
  const applied = table.apply(update, owner)
  if (!applied.ok || !applied.news) throw new Error('expected news')
  table.broadcast(applied.news)
}

describe('presence: what a busy room costs per window (RELAY-6.4, RELAY-6.7)', () => {
  it('RELAY-6.7: a busy room keeps one window timer and re-arms it for each window, creating none per window', () => {
    vi.useFakeTimers()
    const sent: Uint8Array[] = []
    const send = (u: Uint8Array) => sent.push(u)
    const table = new AwarenessTable({ coalesceMs: 50 }, () => 2)
    const timers = vi.spyOn(globalThis, 'setTimeout')
    const news = (update: Uint8Array, owner: object) => {
      const applied = table.apply(update, owner)
      if (!applied.ok || !applied.news) throw new Error('expected news')
      table.broadcast(applied.news, send)
    }
    const owner = {}
    for (let clock = 1; clock <= 20; clock++) {
      news(state(1, clock, `{"x":${clock}}`), owner)
      news(state(2, clock, `{"y":${clock}}`), {})
      vi.advanceTimersByTime(50)
    }
    // Every window sent what it held (the first change of all went out at once)...
    expect(sent.length).toBeGreaterThanOrEqual(20)
    expect(readAwarenessEntries(sent.at(-1) ?? new Uint8Array()).map((e) => e.clock)).toEqual([20, 20])
    // ...from one timer, created at the first window and re-armed since.
    expect(timers).toHaveBeenCalledTimes(1)
  })

  it('RELAY-6.7, RELAY-6.8: a window whose length changed with the room ends on a tick of the new length', () => {
    vi.useFakeTimers()
    let connections = 2
    const sent: Uint8Array[] = []
    const table = new AwarenessTable(
      {},
      () => connections,
      (u) => sent.push(u),
    )
    const t0 = performance.now()
    receive(table, state(1, 1, '{}'), {})
    connections = 20
    receive(table, state(2, 1, '{}'), {})
    // The first window was started by a room of 2 (100 ms): it ends on the first 100 ms tick half a window on.
    const first = PresenceTicker.tickAt(t0 + 50, 100)
    vi.advanceTimersByTime(first - t0 - 3)
    expect(sent).toHaveLength(1)
    vi.advanceTimersByTime(3)
    expect(sent).toHaveLength(2)
    // The next one starts at the room's new size: it ends on the next 250 ms tick half a window on.
    receive(table, state(3, 1, '{}'), {})
    const second = PresenceTicker.tickAt(first + 125, 250)
    vi.advanceTimersByTime(second - first - 3)
    expect(sent).toHaveLength(2)
    vi.advanceTimersByTime(3)
    expect(sent).toHaveLength(3)
  })

  it("RELAY-6.4: a window's update is y-protocols' encoding of the latest entry per client (multi-byte ids, clocks, lengths)", () => {
    vi.useFakeTimers()
    const sent: Uint8Array[] = []
    const table = new AwarenessTable(
      { coalesceMs: 50 },
      () => 2,
      (u) => sent.push(u),
    )
    const long = JSON.stringify({ name: 'é'.repeat(150), cursor: { x: 1, y: 2 } })
    receive(table, state(1, 1, '{}'), {})
    receive(table, state(2 ** 32 - 1, 300, long), {})
    receive(table, state(127, 128, '{"a":1}'), {})
    receive(table, state(127, 129, '{"a":2}'), {})
    vi.advanceTimersByTime(50)
    expect(sent[1]).toEqual(
      encodeEncoded([
        { clientID: 2 ** 32 - 1, clock: 300, state: utf8.encode(long) },
        { clientID: 127, clock: 129, state: utf8.encode('{"a":2}') },
      ]),
    )
  })

  it('RELAY-6.4: news is checked to be JSON without building its value or its text (no JSON.parse, no UTF-8 decoding)', () => {
    const table = new AwarenessTable(
      { coalesceMs: 0 },
      () => 2,
      () => {},
    )
    const parse = vi.spyOn(JSON, 'parse')
    const decode = vi.spyOn(TextDecoder.prototype, 'decode')
    const owner = {}
    for (let clock = 1; clock <= 50; clock++)
      receive(
        table,
        state(1, clock, JSON.stringify({ user: { name: 'é' }, cursor: { x: clock, y: [1, 2.5e3] } })),
        owner,
      )
    receive(table, state(1, 51, ' null '), owner)
    expect(table.size).toBe(0) // the removal was read as one, whatever its spelling
    expect(parse).not.toHaveBeenCalled()
    expect(decode).not.toHaveBeenCalled()
    // What the one pass cannot settle still goes through the checked decoding, and is refused as before.
    expect(() => table.apply(state(2, 1, '{"a":'), {})).toThrow(/malformed awareness update/)
  })

  it('RELAY-6.1: the awareness message a room sends is framed from the update itself (its bytes, not a copy)', () => {
    for (const size of [0, 5, 127, 128, 20_000]) {
      const update = new Uint8Array(size).fill(7)
      const message = awarenessMessage(update)
      expect(message.bytes()).toEqual(encodeAwareness(update))
      expect(message.parts.at(-1)).toBe(update)
    }
  })
})
