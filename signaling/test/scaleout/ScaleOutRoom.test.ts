import { describe, expect, it } from 'vitest'
import { pino } from 'pino'
import * as Y from 'yjs'
import type { DocId } from '@weft/core'
import { decodeMessage, encodeAwareness } from '@weft/core/protocol'
import { encodeAwarenessEntries } from '../../src/relay/AwarenessTable.js'
import type { RelayRoom, RelayPeer } from '../../src/relay/RelayRoom.js'
import { bytesOf } from '../../src/relay/SharedMessage.js'
import { BUS_INLINE_MAX_BYTES, decodeBusMessage, encodeBusMessage } from '../../src/scaleout/busMessages.js'
import type { StoredTail } from '../../src/scaleout/PostgresDocStore.js'
import type { RoomMessage } from '../../src/scaleout/RedisRoomBus.js'
import { ScaleOutRoom } from '../../src/scaleout/ScaleOutRoom.js'
import { appendToLog, testRoom } from '../relay/unit/memoryRelay.js'

/** Updates of one source document, as the store would hold them (clock i + 1). */
const makeUpdates = (n: number): { updates: Uint8Array[]; text: string } => {
  const src = new Y.Doc()
  const updates: Uint8Array[] = []
  src.on('update', (u: Uint8Array) => updates.push(u))
  for (let i = 0; i < n; i++) src.getText('t').insert(src.getText('t').length, `${i},`)
  return { updates, text: src.getText('t').toString() }
}

const textOf = (doc: RelayRoom): string => {
  const y = new Y.Doc()
  Y.applyUpdate(y, doc.log.state())
  return y.getText('t').toString()
}

/** A room on a fake node: the "store" is an array, reads are counted, publications recorded. */
const setup = (stored: Uint8Array[]) => {
  const published: RoomMessage[] = []
  const reads: number[] = []
  const room = new ScaleOutRoom('r', {
    readSince: async (_doc: DocId, after: number): Promise<StoredTail> => {
      reads.push(after)
      return {
        snapshot: null,
        snapshotClock: 0,
        updates: stored.map((data, i) => ({ clock: i + 1, data })).filter((u) => u.clock > after),
        clock: stored.length,
      }
    },
    publish: (_room, m) => published.push(m),
    remoteCompacted: () => undefined,
    logger: pino({ level: 'silent' }),
    gapWaitMs: 5,
  })
  const doc = testRoom('r')
  const received: Uint8Array[] = []
  const peer: RelayPeer = { sendMessage: (m) => received.push(bytesOf(m)) }
  doc.joined(peer)
  return { room, doc, published, reads, received }
}

describe('ScaleOutRoom: clock tracking and catch-up', () => {
  it('SCALE-2.3: updates in clock order are applied and forwarded without reading the store', () => {
    const { updates, text } = makeUpdates(3)
    const { room, doc, reads, received } = setup(updates)
    room.attach(doc, 0)
    updates.forEach((update, i) => room.receive({ type: 'update', origin: 'n2', clock: i + 1, update }))
    expect(room.applied).toBe(3)
    expect(reads).toEqual([])
    expect(received.map((m) => decodeMessage(m).type)).toEqual(['sync-update', 'sync-update', 'sync-update'])
    expect(textOf(doc)).toBe(text)
  })

  it('SCALE-2.3: a lost message is detected by its clock and read from the store', async () => {
    const { updates, text } = makeUpdates(4)
    const { room, doc, reads } = setup(updates)
    room.attach(doc, 0)
    room.receive({ type: 'update', origin: 'n2', clock: 1, update: updates[0] as Uint8Array })
    // Clock 2 is lost; 3 and 4 wait for it, then the room reads everything after 1.
    room.receive({ type: 'update', origin: 'n2', clock: 3, update: updates[2] as Uint8Array })
    room.receive({ type: 'update', origin: 'n2', clock: 4, update: updates[3] as Uint8Array })
    expect(room.applied).toBe(1)
    await new Promise<void>((resolve) => {
      const poll = () => (reads.length > 0 ? resolve() : setImmediate(poll))
      poll()
    })
    await room.catchUp()
    expect(reads[0]).toBe(1)
    expect(room.applied).toBe(4)
    expect(textOf(doc)).toBe(text)
  })

  it('SCALE-2.2: messages that arrive while the room loads are applied after the load, those in it skipped; own commits advance the clock', () => {
    const { updates, text } = makeUpdates(4)
    const { room, doc, received, published } = setup(updates)
    // Arrive before the load completed: clocks 2 (already in the loaded state) and 3.
    room.receive({ type: 'update', origin: 'n2', clock: 2, update: updates[1] as Uint8Array })
    room.receive({ type: 'update', origin: 'n2', clock: 3, update: updates[2] as Uint8Array })
    appendToLog(doc, updates[0] as Uint8Array)
    appendToLog(doc, updates[1] as Uint8Array)
    room.attach(doc, 2)
    expect(room.applied).toBe(3)
    expect(received).toHaveLength(1)
    // This node's own commit (already in its log) is published with its clock, not applied again.
    appendToLog(doc, updates[3] as Uint8Array)
    room.committed(4, updates[3] as Uint8Array)
    expect(room.applied).toBe(4)
    expect(received).toHaveLength(1)
    expect(published.filter((m) => m.type === 'update')).toEqual([
      { type: 'update', clock: 4, update: updates[3] },
    ])
    expect(textOf(doc)).toBe(text)
  })
})

describe('ScaleOutRoom: large updates by reference (SCALE-2.9)', () => {
  it('SCALE-2.9: an own update of BUS_INLINE_MAX_BYTES or more is published as a reference; a node receiving one reads it from the store', async () => {
    const src = new Y.Doc()
    const updates: Uint8Array[] = []
    src.on('update', (u: Uint8Array) => updates.push(u))
    src.getText('t').insert(0, 'small,')
    src.getText('t').insert(6, 'x'.repeat(BUS_INLINE_MAX_BYTES))
    const [small, large] = updates as [Uint8Array, Uint8Array]
    expect(large.byteLength).toBeGreaterThanOrEqual(BUS_INLINE_MAX_BYTES)

    // The origin node: the small update inline, the large one by reference (R3: 28 MB overflowed Redis's 32 MiB
    // output buffer of every subscriber).
    const origin = setup(updates)
    origin.room.attach(origin.doc, 0)
    appendToLog(origin.doc, small)
    origin.room.committed(1, small)
    appendToLog(origin.doc, large)
    origin.room.committed(2, large)
    expect(origin.published.filter((m) => m.type === 'update' || m.type === 'stored')).toEqual([
      { type: 'update', clock: 1, update: small },
      { type: 'stored', clock: 2, bytes: large.byteLength },
    ])

    // Another node: the reference makes it read the store after its clock.
    const other = setup(updates)
    other.room.attach(other.doc, 0)
    other.room.receive({ type: 'update', origin: 'n1', clock: 1, update: small })
    other.room.receive({ type: 'stored', origin: 'n1', clock: 2, bytes: large.byteLength })
    // The reference started the read at once.
    expect(other.reads).toEqual([1])
    await other.room.catchUp()
    expect(other.room.applied).toBe(2)
    expect(textOf(other.doc)).toBe(src.getText('t').toString())
  })

  it('SCALE-2.9: a reference survives the bus encoding', () => {
    const m = { type: 'stored', origin: 'n1', clock: 7, bytes: 28_000_000 } as const
    expect(decodeBusMessage(encodeBusMessage(m))).toEqual(m)
  })
})

describe('ScaleOutRoom: presence', () => {
  const state = (id: number, clock: number, json: string) => encodeAwarenessEntries([[id, clock, json]])

  it('SCALE-3.1, SCALE-3.2: remote presence reaches local peers; local echoes are not published back', () => {
    const { room, doc, received, published } = setup([])
    room.attach(doc, 0)
    expect(published).toEqual([{ type: 'presence-query' }])
    room.receive({ type: 'awareness', origin: 'n2', update: state(7, 1, '{"name":"r"}') })
    expect(doc.awareness.size).toBe(1)
    expect(received.map((m) => decodeMessage(m).type)).toEqual(['awareness'])
    // A local stock client echoes the remote state (same clock): not published.
    doc.broadcast(encodeAwareness(state(7, 1, '{"name":"r"}')))
    expect(published).toHaveLength(1)
    // A local client's state is published.
    doc.awareness.apply(state(9, 1, '{"name":"l"}'), {})
    doc.broadcast(encodeAwareness(state(9, 1, '{"name":"l"}')))
    expect(published[1]).toMatchObject({ type: 'awareness' })
    // A presence query from another node is answered with local clients only.
    room.receive({ type: 'presence-query', origin: 'n3' })
    const answer = published[2]
    expect(answer?.type).toBe('awareness')
    expect(answer?.type === 'awareness' && [...answer.update]).toEqual([...state(9, 1, '{"name":"l"}')])
  })

  it('SCALE-3.3: when a node dies its clients are removed at their clock and local peers are told', () => {
    const { room, doc, received } = setup([])
    room.attach(doc, 0)
    room.receive({ type: 'awareness', origin: 'n2', update: state(7, 3, '{"name":"r"}') })
    room.nodeDown('n2')
    expect(doc.awareness.size).toBe(0)
    const removal = decodeMessage(received[received.length - 1] as Uint8Array)
    expect(removal.type === 'awareness' && [...removal.update]).toEqual([...state(7, 3, 'null')])
  })
})
