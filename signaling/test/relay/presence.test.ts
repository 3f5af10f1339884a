import { afterEach, describe, expect, it, vi } from 'vitest'
import * as Y from 'yjs'
import { CloseCode } from '@weft/core'
import {
  encodeAwareness,
  encodeAwarenessEntries as encodeEncoded,
  encodeQueryAwareness,
  encodeSyncStep1,
  readAwarenessEntries,
} from '@weft/core/protocol'
import {
  AwarenessTable,
  DEFAULT_PRESENCE_LIMITS,
  encodeAwarenessEntries,
} from '../../src/relay/AwarenessTable.js'
import { startTestServer, type TestServer } from '../helpers/startTestServer.js'
import { WeftTestClient } from '../helpers/WeftTestClient.js'

let srv: TestServer | null = null
const clients: WeftTestClient[] = []

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.client.close()))
  await srv?.close()
  srv = null
})

/** A Weft raw client that has received the relay's answer to its step 1 (it is in the room). */
const join = async (room: string): Promise<WeftTestClient> => {
  const c = await WeftTestClient.open(`${srv?.ws}/relay/${room}`)
  clients.push(c)
  await c.next('sync-step2')
  return c
}

const state = (id: number, clock: number, json: string) => encodeAwarenessEntries([[id, clock, json]])
const idsOf = (update: Uint8Array) => readAwarenessEntries(update).map((e) => e.clientID)

describe('presence: echoes (RELAY-6.4)', () => {
  it('RELAY-6.4: an echoed awareness update (same client, same clock) is not forwarded', async () => {
    srv = await startTestServer()
    const a = await join('echo')
    const b = await join('echo')
    a.client.send(encodeAwareness(state(1, 1, '{"name":"Ada"}')))
    expect(idsOf((await a.next('awareness')).update)).toEqual([1]) // the sender gets its news back
    const seen = await b.next('awareness')
    expect(idsOf(seen.update)).toEqual([1])
    // B behaves as y-websocket's WebsocketProvider: it re-sends what it received, then sends its own state.
    b.client.send(encodeAwareness(seen.update))
    b.client.send(encodeAwareness(state(2, 1, '{"name":"Bo"}')))
    // Handled in order: had the echo been forwarded, it would arrive first.
    expect(idsOf((await a.next('awareness')).update)).toEqual([2])
    expect(a.has('awareness')).toBe(false)
  })

  it('RELAY-6.4: an echo is dropped after reading its client id and clock: its state is not decoded', () => {
    const table = new AwarenessTable()
    const owner = {}
    expect(table.apply(state(7, 3, '{"x":1}'), owner)).toMatchObject({ ok: true })
    // Same client, same clock, a state that is not even JSON: carries no news, so it is not looked at.
    const echo = encodeEncoded([{ clientID: 7, clock: 3, state: new Uint8Array([0x7b, 0xff, 0xfe]) }])
    expect(table.apply(echo, {})).toEqual({ ok: true, news: null })
    // News is still validated.
    const bad = encodeEncoded([{ clientID: 7, clock: 4, state: new Uint8Array([0x7b, 0xff, 0xfe]) }])
    expect(() => table.apply(bad, owner)).toThrow(/malformed awareness/)
  })

  it("RELAY-6.4: an echo is dropped after reading its entries' client ids and clocks: no state is taken out of it", () => {
    const table = new AwarenessTable()
    const room = encodeAwarenessEntries([
      [1, 4, '{"cursor":{"x":1,"y":2}}'],
      [2, 7, '{"cursor":{"x":3,"y":4}}'],
      [3, 1, 'null'],
    ])
    const applied = table.apply(room, {})
    expect(applied).toMatchObject({ ok: true })
    const read = table.statesRead
    expect(read).toBe(3) // news: each state taken out once, to be checked and stored
    // A stock client echoes the whole update back, and again (a second client), and an older one (stale).
    expect(table.apply(room, {})).toEqual({ ok: true, news: null })
    expect(table.apply(room, {})).toEqual({ ok: true, news: null })
    expect(table.apply(state(2, 6, '{"cursor":{"x":0,"y":0}}'), {})).toEqual({ ok: true, news: null })
    expect(table.statesRead).toBe(read)
    expect(table.staleUpdates).toBe(3)
    // An echo with a news entry among others: only that entry's state is taken out.
    const mixed = encodeAwarenessEntries([
      [1, 4, '{"cursor":{"x":1,"y":2}}'],
      [2, 8, '{"cursor":{"x":5,"y":6}}'],
    ])
    expect(table.apply(mixed, {})).toMatchObject({ ok: true })
    expect(table.statesRead).toBe(read + 1)
  })

  it('RELAY-6.4: only the entries with news are forwarded from a mixed update', () => {
    const table = new AwarenessTable()
    table.apply(state(1, 5, '{"a":1}'), {})
    const mixed = encodeAwarenessEntries([
      [1, 5, '{"a":1}'],
      [2, 1, '{"b":2}'],
    ])
    const applied = table.apply(mixed, {})
    expect(applied.ok && applied.news && idsOf(applied.news)).toEqual([2])
    expect(table.size).toBe(2)
  })
})

describe('presence: owners (RELAY-6.3)', () => {
  it('RELAY-6.3: the clients a connection introduced, one or several, leave with it; a removed client taken over by another connection stays with that one', () => {
    const table = new AwarenessTable()
    const single = {}
    const bridge = {}
    const other = {}
    table.apply(state(1, 1, '{"a":1}'), single)
    table.apply(
      encodeAwarenessEntries([
        [2, 1, '{"b":1}'],
        [3, 1, '{"c":1}'],
      ]),
      bridge,
    )
    table.apply(state(2, 2, 'null'), bridge) // 2 leaves; its next state comes over `other`
    table.apply(state(2, 3, '{"b":2}'), other)
    expect(table.size).toBe(3)
    expect(table.bytes).toBe(21)
    // Echoes over other connections take nothing over.
    table.apply(state(1, 1, '{"a":1}'), other)
    const removed = table.removeOwner(bridge)
    expect(removed && readAwarenessEntries(removed)).toEqual([{ clientID: 3, clock: 1, state: null }])
    expect(table.removeOwner(bridge)).toBeNull()
    expect(table.size).toBe(2)
    const gone = table.removeOwner(single)
    expect(gone && idsOf(gone)).toEqual([1])
    expect(idsOf(table.encodeAll() ?? new Uint8Array([0]))).toEqual([2])
    expect(table.bytes).toBe(7)
    // A state kept by the table is sent exactly as it arrived (bytes, not re-serialised).
    table.apply(state(4, 1, '{"name":"Zoë","x":1.50}'), single)
    const all = table.encodeAll()
    expect(all && readAwarenessEntries(all).find((e) => e.clientID === 4)?.state).toEqual({
      name: 'Zoë',
      x: 1.5,
    })
    expect(all && Buffer.from(all).includes(Buffer.from('{"name":"Zoë","x":1.50}'))).toBe(true)
  })
})

describe('presence: coalescing (RELAY-6.4)', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  const news = (table: AwarenessTable, update: Uint8Array, owner: object): Uint8Array => {
    const applied = table.apply(update, owner)
    if (!applied.ok || !applied.news) throw new Error('expected news')
    return applied.news
  }

  it('RELAY-6.4: news within coalesceMs of the last send goes out once, merged, latest state per client', () => {
    vi.useFakeTimers()
    const table = new AwarenessTable({ coalesceMs: 50 })
    const sent: number[][] = []
    const send = (u: Uint8Array) => sent.push(readAwarenessEntries(u).map((e) => e.clientID * 100 + e.clock))
    table.broadcast(news(table, state(1, 1, '{}'), {}), send)
    expect(sent).toEqual([[101]]) // a quiet room: at once
    table.broadcast(news(table, state(2, 1, '{}'), {}), send)
    table.broadcast(news(table, state(2, 2, '{}'), {}), send)
    table.broadcast(news(table, state(3, 1, '{}'), {}), send)
    expect(sent).toHaveLength(1)
    vi.advanceTimersByTime(50)
    expect(sent).toEqual([[101], [202, 301]])
    vi.advanceTimersByTime(200)
    expect(sent).toHaveLength(2)
  })

  it('RELAY-6.4: a held state of a client removed meanwhile is not sent', () => {
    vi.useFakeTimers()
    const table = new AwarenessTable({ coalesceMs: 50 })
    const sent: Uint8Array[] = []
    const leaving = {}
    table.broadcast(news(table, state(1, 1, '{}'), {}), (u) => sent.push(u))
    table.broadcast(news(table, state(9, 1, '{"bye":1}'), leaving), (u) => sent.push(u))
    expect(table.removeOwner(leaving)).not.toBeNull()
    vi.advanceTimersByTime(100)
    expect(sent).toHaveLength(1)
  })
})

describe('presence: limits (RELAY-6.5)', () => {
  it('RELAY-6.5: one connection may introduce at most 32 client ids; more closes it', async () => {
    srv = await startTestServer()
    const a = await join('many')
    const ids = Array.from({ length: DEFAULT_PRESENCE_LIMITS.maxClientsPerConnection + 1 }, (_, i) => i + 1)
    a.client.send(encodeAwareness(encodeAwarenessEntries(ids.map((id) => [id, 1, '{}']))))
    expect((await a.client.closed).code).toBe(CloseCode.MalformedMessage)
  })

  it('RELAY-6.5: a room holds at most maxClientsPerRoom client ids; an update past it is dropped', () => {
    const table = new AwarenessTable()
    const { maxClientsPerRoom, maxClientsPerConnection } = DEFAULT_PRESENCE_LIMITS
    let next = 1
    let refused = 0
    for (let owner = 0; next <= maxClientsPerRoom + 10; owner++) {
      const ids = Array.from({ length: maxClientsPerConnection }, () => next++)
      const applied = table.apply(encodeAwarenessEntries(ids.map((id) => [id, 1, '{}'])), {})
      if (!applied.ok) {
        expect(applied.reason).toBe('room-full')
        refused++
      }
    }
    expect(refused).toBeGreaterThan(0)
    expect(table.size).toBeLessThanOrEqual(maxClientsPerRoom)
  })

  it('RELAY-6.5: a room holds at most maxBytesPerRoom of state, which bounds every answer', () => {
    const table = new AwarenessTable()
    const big = JSON.stringify({ blob: 'x'.repeat(60 * 1024) })
    for (let id = 1; id <= 40; id++) table.apply(state(id, 1, big), {})
    expect(table.bytes).toBeLessThanOrEqual(DEFAULT_PRESENCE_LIMITS.maxBytesPerRoom)
    const all = table.encodeAll()
    expect(all).not.toBeNull()
    expect(all?.byteLength ?? 0).toBeLessThanOrEqual(DEFAULT_PRESENCE_LIMITS.maxBytesPerRoom + 40 * 16)
    // A client already present may still shrink its state or leave.
    expect(table.apply(state(1, 2, '{}'), {})).toMatchObject({ ok: true })
  })

  it('RELAY-6.5: query-awareness is answered at most once a second per connection', async () => {
    srv = await startTestServer()
    const a = await join('query')
    a.client.send(encodeAwareness(state(1, 1, '{"name":"Ada"}')))
    await a.next('awareness')
    for (let i = 0; i < 5; i++) a.client.send(encodeQueryAwareness())
    // Handled in order: every answer to the queries is sent before the answer to this step 1.
    a.client.send(encodeSyncStep1(Y.encodeStateVector(new Y.Doc())))
    await a.next('sync-step2')
    expect(a.received.filter((m) => m.type === 'awareness')).toHaveLength(1)
  })
})

describe('presence: deeply nested states (SYNC-6.4)', () => {
  it('SYNC-6.4: a state nested 30,000 deep (60 KB) is refused as malformed and reaches no one', async () => {
    srv = await startTestServer()
    const a = await join('deep')
    const b = await join('deep')
    const deep = '['.repeat(30_000) + ']'.repeat(30_000)
    a.client.send(encodeAwareness(state(9, 1, deep)))
    expect((await a.client.closed).code).toBe(CloseCode.MalformedMessage)
    // B is still served, and the deep state was never forwarded: its next presence message is C's.
    const c = await join('deep')
    c.client.send(encodeAwareness(state(3, 1, '{"name":"Cy"}')))
    expect(idsOf((await b.next('awareness')).update)).toEqual([3])
  })

  it('SYNC-6.4: 64 levels are accepted, 65 refused; brackets inside strings do not count', () => {
    const table = new AwarenessTable()
    const nested = (n: number) => '['.repeat(n) + ']'.repeat(n)
    expect(table.apply(state(1, 1, nested(64)), {})).toMatchObject({ ok: true })
    expect(() => table.apply(state(2, 1, nested(65)), {})).toThrow(/nested deeper than 64/)
    expect(table.apply(state(3, 1, JSON.stringify({ s: '[[[[' + '['.repeat(100) })), {})).toMatchObject({
      ok: true,
    })
    expect(readAwarenessEntries(state(4, 1, nested(64)))).toHaveLength(1)
    expect(() => readAwarenessEntries(state(5, 1, nested(65)))).toThrow(/nested deeper than 64/)
  })
})

describe('presence: one connection cannot fill a room (RELAY-6.5)', () => {
  it("RELAY-6.5: one connection's clients hold at most maxBytesPerConnection; the room keeps room for others", () => {
    const table = new AwarenessTable()
    const squatter = {}
    const big = (n: number) => JSON.stringify({ pad: 'x'.repeat(n - 10) })
    const results = Array.from({ length: 31 }, (_, i) =>
      table.apply(state(100 + i, 1, big(33_000)), squatter),
    )
    // A filler sized to the rest of the room's budget, as an attacker would send it.
    results.push(
      table.apply(state(200, 1, big(DEFAULT_PRESENCE_LIMITS.maxBytesPerRoom - table.bytes - 16)), squatter),
    )
    expect(results.filter((r) => r.ok).length).toBe(1)
    expect(results.at(-1)).toEqual({ ok: false, reason: 'connection-full' })
    expect(table.bytes).toBeLessThanOrEqual(DEFAULT_PRESENCE_LIMITS.maxBytesPerConnection)
    // Someone else's presence still gets in.
    expect(table.apply(state(7, 1, '{"name":"legit"}'), {})).toMatchObject({ ok: true })
    // The squatter may still shrink its own state.
    expect(table.apply(state(100, 2, '{"small":1}'), squatter)).toMatchObject({ ok: true })
  })
})
