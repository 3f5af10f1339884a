import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { CloseCode, docId, type DocStore } from '@weft/core'
import {
  Feature,
  decodeMessage,
  encodeAwareness,
  encodeSyncUpdate,
  readAwarenessEntries,
  splitMessage,
} from '@weft/core/protocol'
import { encodeAwarenessEntries } from '../../../src/relay/AwarenessTable.js'
import { MemoryDocStore } from '@weft/core/testing'
import { SharedMessage } from '../../../src/relay/SharedMessage.js'
import { DEFAULT_LIMITS } from '../../../src/ServerLimits.js'
import { GatedStore } from '../../helpers/GatedStore.js'
import type { MemoryRelayClient } from '../../../src/relay/MemoryRelaySocket.js'
import {
  decodedAll,
  nextOf,
  sendStep1,
  startMemoryRelay,
  textUpdate,
  weftHello,
  type MemoryRelay,
} from './memoryRelay.js'

let relay: MemoryRelay | null = null
/** Releases what a failed test may have left held (the hub's close waits for held writes). */
let onTeardown: (() => void) | null = null
afterEach(async () => {
  onTeardown?.()
  onTeardown = null
  await relay?.close()
  relay = null
})

const start = (store?: DocStore) => (relay = startMemoryRelay(store ? { store } : {}))

/** A connection that finished its handshake: greeted, asked with its step 1 and answered. */
const joined = async (
  r: MemoryRelay,
  room: string,
  hello = weftHello(),
  access: 'read' | 'write' = 'write',
): Promise<MemoryRelayClient> => {
  const client = r.connect(room, access)
  sendStep1(client, new Y.Doc(), hello)
  await nextOf(client, 'sync-step2')
  return client
}

const types = (client: MemoryRelayClient) => decodedAll(client).map((m) => m.type)

describe('RelayHub over in-memory sockets (no server)', () => {
  it('RELAY-2.1, RELAY-2.2: nothing is answered before the stored state is in; then the greeting, then the answer', async () => {
    const gated = new GatedStore(new MemoryDocStore())
    await gated.inner.append(docId('r'), textUpdate('stored'))
    const r = start(gated)
    const release = gated.holdLoads()
    const loading = gated.nextLoad()
    const client = r.connect('r')
    sendStep1(client, new Y.Doc())
    await loading
    expect(client.received).toEqual([])
    release()
    const answer = await nextOf(client, 'sync-step2')
    expect(types(client)).toEqual(['sync-step1', 'sync-step2'])
    const greeting = decodedAll(client)[0]
    expect(greeting?.type === 'sync-step1' && greeting.hello).toMatchObject({
      features: Feature.Ack | Feature.Chunk,
      maxMessageSize: DEFAULT_LIMITS.maxRelayMessageBytes,
    })
    const doc = new Y.Doc()
    Y.applyUpdate(doc, answer.update)
    expect(doc.getText('t').toString()).toBe('stored')
  })

  it('RELAY-2.3: a step 1 is answered with exactly what its state vector lacks', async () => {
    const store = new MemoryDocStore()
    const base = textUpdate('base ', 1)
    await store.append(docId('r'), base)
    const r = start(store)
    const mine = new Y.Doc()
    Y.applyUpdate(mine, base)
    const client = r.connect('r')
    sendStep1(client, mine, null)
    const answer = await nextOf(client, 'sync-step2')
    // The peer has everything: the answer carries no structs and no deletions.
    expect(Y.decodeUpdate(answer.update).structs).toEqual([])
    expect(Y.decodeUpdate(answer.update).ds.clients.size).toBe(0)
  })

  it('RELAY-3.1, RELAY-3.2: an update is forwarded to the room as one shared message and acked only once durable', async () => {
    const gated = new GatedStore(new MemoryDocStore())
    const r = start(gated)
    const writer = await joined(r, 'r')
    const b = await joined(r, 'r')
    const c = await joined(r, 'r', weftHello(), 'read')
    const release = gated.holdAppends()
    onTeardown = release
    const appending = gated.nextAppendCall()
    const update = textUpdate('hi')
    writer.send(encodeSyncUpdate(update, 1))
    expect((await nextOf(b, 'sync-update')).update).toEqual(update)
    expect((await nextOf(c, 'sync-update')).update).toEqual(update)
    // One message for every receiver: a socket implementation encodes (frames) it once for all of them.
    const sharedAt = (client: MemoryRelayClient) =>
      client.shared[client.received.findIndex((m) => decodeMessage(m).type === 'sync-update')]
    expect(sharedAt(b)).toBeInstanceOf(SharedMessage)
    expect(sharedAt(b)).toBe(sharedAt(c))
    // The store was asked to write it and has not finished: no ack yet.
    await appending
    expect(types(writer)).not.toContain('ack')
    release()
    expect((await nextOf(writer, 'ack')).seq).toBe(1)
    expect((await gated.inner.load(docId('r')))?.updates).toHaveLength(1)
    expect(types(writer)).not.toContain('sync-update')
  })

  it('RELAY-4.3: a read connection is not greeted with step 1; an update from it closes it with ReadOnly and goes nowhere', async () => {
    const store = new MemoryDocStore()
    const r = start(store)
    const writer = await joined(r, 'r')
    const reader = await joined(r, 'r', weftHello(), 'read')
    expect(types(reader)).toEqual(['sync-step2'])
    reader.send(encodeSyncUpdate(textUpdate('not allowed'), 1))
    expect(await reader.closed).toMatchObject({ code: CloseCode.ReadOnly, by: 'relay' })
    await r.close()
    expect(store.writeCount).toBe(0)
    expect(types(writer)).not.toContain('sync-update')
  })

  it("RELAY-6.9: a read connection shows its own presence but cannot change or erase another connection's", async () => {
    const r = start()
    const writer = await joined(r, 'r')
    const reader = await joined(r, 'r', weftHello(), 'read')
    const entries = (client: MemoryRelayClient) =>
      decodedAll(client).flatMap((m) =>
        m.type === 'awareness'
          ? readAwarenessEntries(m.update).map((e) => [e.clientID, e.clock, JSON.stringify(e.state)])
          : [],
      )
    writer.send(encodeAwareness(encodeAwarenessEntries([[424242, 1, '{"name":"Ada"}']])))
    await nextOf(reader, 'awareness')
    // Found by an outside review: a reader sent states for the writer's client at higher clocks, an impostor and then
    // a removal, and every observer took them.
    reader.send(encodeAwareness(encodeAwarenessEntries([[424242, 5, '{"name":"IMPOSTOR"}']])))
    reader.send(encodeAwareness(encodeAwarenessEntries([[424242, 6, 'null']])))
    reader.send(encodeAwareness(encodeAwarenessEntries([[7, 1, '{"name":"Reader"}']])))
    // Handled in order: the reader's own state arrives after anything the first two would have sent.
    await writer.next((bytes) => {
      const m = decodeMessage(bytes)
      return m.type === 'awareness' && readAwarenessEntries(m.update).some((e) => e.clientID === 7)
    })
    expect(entries(writer)).toEqual([
      [424242, 1, '{"name":"Ada"}'],
      [7, 1, '{"name":"Reader"}'],
    ])
  })

  it.each([
    ['a frame that does not decode', Uint8Array.of(0xff, 0xff, 0xff)],
    ['an update that fails validation', encodeSyncUpdate(Uint8Array.of(1, 2, 3), 1)],
    ['a state vector that does not decode', Uint8Array.of(0, 0, 3, 0xff, 0xff, 0xff)],
    ['a text frame', 'hello'],
  ])('RELAY-5.1: %s closes the connection with MalformedMessage; the room carries on', async (_what, bad) => {
    const r = start()
    const other = await joined(r, 'r')
    const culprit = await joined(r, 'r')
    culprit.send(bad)
    expect(await culprit.closed).toMatchObject({ code: CloseCode.MalformedMessage, by: 'relay' })
    const writer = await joined(r, 'r')
    writer.send(encodeSyncUpdate(textUpdate('still here'), 1))
    expect((await nextOf(writer, 'ack')).seq).toBe(1)
    expect(types(other)).toEqual(['sync-step1', 'sync-step2', 'sync-update'])
  })

  it('RELAY-7.1: chunks from a write connection that announced chunk are reassembled and handled as the whole message', async () => {
    const r = start()
    const observer = await joined(r, 'r')
    const writer = await joined(r, 'r')
    const update = textUpdate('x'.repeat(5000))
    const pieces = splitMessage(encodeSyncUpdate(update, 1), 1024, 7)
    expect(pieces.length).toBeGreaterThan(4)
    for (const piece of pieces.slice(0, -1)) writer.send(piece)
    // RELAY-7.3: what the relay holds for the unfinished message is charged to the socket's budget at once.
    expect(writer.relay.heldInputBytes).toBeGreaterThan(0)
    expect(types(observer)).not.toContain('sync-update')
    writer.send(pieces.at(-1) as Uint8Array)
    expect((await nextOf(observer, 'sync-update')).update).toEqual(update)
    expect((await nextOf(writer, 'ack')).seq).toBe(1)
    expect(writer.relay.heldInputBytes).toBe(0)
  })

  it('RELAY-7.1: a chunk from a read connection closes it with ReadOnly, from a stock client with MalformedMessage', async () => {
    const r = start()
    const [piece] = splitMessage(encodeSyncUpdate(textUpdate('y'.repeat(3000)), 1), 1024, 1)
    const reader = await joined(r, 'r', weftHello(), 'read')
    reader.send(piece as Uint8Array)
    expect(await reader.closed).toMatchObject({ code: CloseCode.ReadOnly })
    const stock = r.connect('r')
    sendStep1(stock, new Y.Doc(), null)
    await nextOf(stock, 'sync-step2')
    stock.send(piece as Uint8Array)
    expect(await stock.closed).toMatchObject({ code: CloseCode.MalformedMessage })
  })

  it('RELAY-7.2: a shared broadcast is chunked for a peer that announced a smaller maximum, whole for the others', async () => {
    const r = start()
    const small = await joined(r, 'r', weftHello({ maxMessageSize: 1024 }))
    const large = await joined(r, 'r')
    const writer = await joined(r, 'r')
    const update = textUpdate('z'.repeat(5000))
    writer.send(encodeSyncUpdate(update, 1))
    expect((await nextOf(large, 'sync-update')).update).toEqual(update)
    await nextOf(writer, 'ack')
    const chunks = small.received.filter((m) => decodeMessage(m).type === 'chunk')
    expect(chunks.length).toBeGreaterThan(4)
    for (const chunk of chunks) expect(chunk.byteLength).toBeLessThanOrEqual(1024)
    const whole = decodedAll(small).find((m) => m.type === 'sync-update')
    expect(whole?.type === 'sync-update' && whole.update).toEqual(update)
  })
})
