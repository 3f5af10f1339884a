import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { docId } from '@weft/core'
import { encodeEpochRecord, startEpoch } from '@weft/core/epochs'
import { encodeEpochOffer, encodeSyncUpdate, validateUpdate } from '@weft/core/protocol'
import { MemoryDocStore } from '@weft/core/testing'
import type { MemoryRelayClient } from '../../../src/relay/MemoryRelaySocket.js'
import type { EpochPeer } from '../../../src/relay/RelayEpochPeer.js'
import type { RelayRoom } from '../../../src/relay/RelayRoom.js'
import { GatedStore } from '../../helpers/GatedStore.js'
import {
  decodedAll,
  nextOf,
  roomServices,
  sendStep1,
  startMemoryRelay,
  testRoom,
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

/** A Weft writer of `room` that finished its handshake. */
const writer = async (r: MemoryRelay, room: string): Promise<MemoryRelayClient> => {
  const client = r.connect(room)
  sendStep1(client, new Y.Doc(), weftHello())
  await nextOf(client, 'sync-step2')
  return client
}

/** A client's own document: every local change is recorded as the update it sends. */
const editor = (clientID: number) => {
  const doc = new Y.Doc({ gc: false })
  doc.clientID = clientID
  const updates: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => updates.push(u))
  /** Appends `text` at the end of the text "t"; returns the update. */
  const type = (text: string): Uint8Array => {
    doc.getText('t').insert(doc.getText('t').length, text)
    return updates.at(-1) as Uint8Array
  }
  return { doc, type }
}

/** Lets every queued callback run (the switch starts on a microtask after the offer; nothing waits on a timer). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve))

/** The text "t" of what `store` holds for `room` (snapshot and tail). */
const storedText = async (store: MemoryDocStore, room: string): Promise<string> => {
  const stored = await store.load(docId(room))
  const doc = new Y.Doc()
  if (stored?.snapshot) Y.applyUpdateV2(doc, stored.snapshot)
  for (const u of stored?.updates ?? []) Y.applyUpdate(doc, u)
  return doc.getText('t').toString()
}

/** The sync updates `client` received, in order, decoded into one fresh document after `base` each time. */
const forwardedTexts = (client: MemoryRelayClient, base: Uint8Array[]): string[] => {
  const doc = new Y.Doc()
  for (const u of base) Y.applyUpdate(doc, u)
  const texts: string[] = []
  for (const m of decodedAll(client)) {
    if (m.type !== 'sync-update') continue
    Y.applyUpdate(doc, m.update)
    texts.push(doc.getText('t').toString())
  }
  return texts
}

/** The acks `client` received, their sequence numbers in order. */
const acks = (client: MemoryRelayClient): number[] =>
  decodedAll(client).flatMap((m) => (m.type === 'ack' ? [m.seq] : []))

/**
 * A room mid-switch: A and B write; A's first change is stored, its second is accepted but its append held, and A
 * offers an epoch built on both. The room starts the switch and waits (quiesce) for the held append.
 */
const switchWaitingForAppend = async (offer: 'follows' | 'missing-base') => {
  const inner = new MemoryDocStore()
  const gated = new GatedStore(inner)
  const r = (relay = startMemoryRelay({ store: gated }))
  const a = await writer(r, 'r')
  const b = await writer(r, 'r')
  const room = r.hub.room('r') as RelayRoom
  const ea = editor(1)
  const first = ea.type('one ')
  a.send(encodeSyncUpdate(first, 1))
  expect(await nextOf(a, 'ack')).toMatchObject({ seq: 1 })
  const release = gated.holdAppends()
  onTeardown = release
  const second = ea.type('two ')
  a.send(encodeSyncUpdate(second, 2))
  // B holds what A sent, as a client that received it would.
  const eb = editor(2)
  Y.applyUpdate(eb.doc, first)
  Y.applyUpdate(eb.doc, second)
  // The epoch A offers is built on A's state; with 'missing-base' A holds a change the relay never got.
  if (offer === 'missing-base') ea.type('never sent ')
  const started = startEpoch(ea.doc)
  a.send(encodeEpochOffer(encodeEpochRecord(started.record), new Uint8Array([0, 0])))
  await settle()
  expect(room.epochBusy).toBe(true)
  expect(room.epoch.holding).toBe(true)
  return { r, a, b, eb, room, release, inner, gated, record: started.record, base: [first, second] }
}

describe("the room's own epoch switch (RELAY-EPOCH-4) over in-memory sockets", () => {
  it('RELAY-EPOCH-4: updates that arrive while the room switches are forwarded at once, held, then stored in the new epoch: none lost, order kept, each acked', async () => {
    const { a, b, eb, room, release, inner, gated, record, base } = await switchWaitingForAppend('follows')
    // B keeps typing while the room switches: forwarded at once (old epoch), held, not stored.
    const appendsBefore = gated.appends
    const typed = ['three ', 'four ', 'five']
    typed.forEach((text, i) => b.send(encodeSyncUpdate(eb.type(text), i + 1)))
    expect(forwardedTexts(a, base)).toEqual([
      'one two three ',
      'one two three four ',
      'one two three four five',
    ])
    expect(gated.appends).toBe(appendsBefore)
    expect(acks(b)).toEqual([])

    release()
    // Each held update is acked once durable in the new epoch, in the order sent.
    await nextOf(b, 'ack')
    await nextOf(b, 'ack')
    await nextOf(b, 'ack')
    expect(acks(b)).toEqual([1, 2, 3])
    expect(room.epoch.record?.id).toBe(record.id)
    expect(room.epoch.holding).toBe(false)
    // None lost, order kept: the new epoch's stored state holds every change, in the order typed.
    expect(await storedText(inner, 'r')).toBe('one two three four five')
    // They were held, not stored in the epoch left: its archive (what clients of epoch "0" are served) ends before.
    const left = await room.epoch.offering('0')
    expect(left?.record.id).toBe(record.id)
    const archived = new Y.Doc()
    Y.applyUpdate(archived, left?.catchUp?.(Y.encodeStateVector(new Y.Doc())) ?? new Uint8Array([0, 0]))
    expect(archived.getText('t').toString()).toBe('one two ')
  })

  it('RELAY-EPOCH-4: when the switch does not happen (the relay lacks part of the offer’s base), the held updates are stored in the old epoch, in order, and acked', async () => {
    const { b, eb, room, release, inner } = await switchWaitingForAppend('missing-base')
    const typed = ['three ', 'four ']
    typed.forEach((text, i) => b.send(encodeSyncUpdate(eb.type(text), i + 1)))
    release()
    await nextOf(b, 'ack')
    await nextOf(b, 'ack')
    expect(acks(b)).toEqual([1, 2])
    expect(room.epoch.record).toBeNull()
    expect(await storedText(inner, 'r')).toBe('one two three four ')
  })

  it("RELAY-EPOCH-4: the switch waits for the room's own pending writes (quiesce through its commit handle) before it stores the new epoch", async () => {
    const { room, release, inner, record } = await switchWaitingForAppend('follows')
    // A's second change is not durable yet: the room has not switched, and the store is still in epoch "0".
    expect(room.pending).toBe(true)
    expect(room.epoch.record).toBeNull()
    expect((await inner.load(docId('r')))?.updates).toHaveLength(1)
    release()
    await room.quiesce()
    await relay?.hub.epochs.settled()
    expect(room.epoch.record?.id).toBe(record.id)
    expect(await storedText(inner, 'r')).toBe('one two ')
  })

  it('RELAY-EPOCH-4: a room switches on its own services, without a hub: quiesce, store, replace, greet its members', async () => {
    const store = new MemoryDocStore()
    const services = roomServices(store)
    const room = testRoom('solo', null, services)
    const greeted: string[] = []
    const member: EpochPeer = {
      access: 'write',
      sendMessage: () => undefined,
      epochChanged: () => void greeted.push('handshake again'),
      closeWith: () => undefined,
    }
    room.joined(member)
    const ea = editor(1)
    const first = ea.type('solo ')
    // Accepted: forwarded to nobody else, durable through the room's own commit handle.
    await room.accept(first, member, validateUpdate(first))
    const eb = editor(2)
    Y.applyUpdate(eb.doc, first)
    const started = startEpoch(ea.doc)
    room.epoch.offered(member, started.record, new Uint8Array([0, 0]), 'child')
    const late = eb.type('and late')
    const durable = room.accept(late, member, validateUpdate(late))
    await durable
    await services.relayEpochs.settled()
    expect(room.epoch.record?.id).toBe(started.record.id)
    expect(greeted).toEqual(['handshake again'])
    expect(await storedText(store, 'solo')).toBe('solo and late')
    expect(room.log.byteLength).toBeGreaterThan(0)
  })
})
