import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { decodeMessage, validateUpdate } from '@weft/core/protocol'
import { MemoryDocStore } from '@weft/core/testing'
import type { RelayPeer, RelayRoom } from '../../../src/relay/RelayRoom.js'
import { bytesOf } from '../../../src/relay/SharedMessage.js'
import { roomServices, testRoom, textUpdate } from './memoryRelay.js'

/** A member that records the sync updates it is sent. */
const member = (): RelayPeer & { readonly updates: Uint8Array[] } => {
  const updates: Uint8Array[] = []
  return {
    updates,
    sendMessage: (m) => {
      const message = decodeMessage(bytesOf(m))
      if (message.type === 'sync-update') updates.push(message.update)
    },
  }
}

const textOf = (room: RelayRoom): string => {
  const doc = new Y.Doc()
  Y.applyUpdate(doc, room.log.state())
  return doc.getText('t').toString()
}

describe('RelayRoom: the one writer of its log', () => {
  it("SCALE-2: another node's stored update goes into the log through the room, counted in the stored tail and forwarded to the other members only", () => {
    const room = testRoom()
    const bus = member()
    const local = member()
    room.joined(bus)
    room.joined(local)
    const update = textUpdate('remote')
    expect(room.applyStored(update, bus)).toBe(true)
    expect(textOf(room)).toBe('remote')
    expect([room.tailCount, room.tailBytes]).toEqual([1, update.byteLength])
    expect(local.updates).toEqual([update])
    expect(bus.updates).toEqual([])
    // SCALE-2.7: bytes that are no update are refused, and nothing changes.
    expect(room.applyStored(new Uint8Array([200, 200, 200]), bus)).toBe(false)
    expect(room.tailCount).toBe(1)
    expect(local.updates).toHaveLength(1)
  })

  it('RELAY-3.8: a compaction that works on a copy of the state keeps what the room accepted meanwhile', async () => {
    const services = roomServices(new MemoryDocStore())
    const room = testRoom('r', null, services)
    const writer = member()
    room.joined(writer)
    const first = textUpdate('before ', 1)
    await room.accept(first, writer, validateUpdate(first))
    room.compactionStarts(true)
    const copy = room.log.parts()
    const during = textUpdate('during', 2)
    const durable = room.accept(during, writer, validateUpdate(during))
    // The rebuilt copy (here: merged as it was) replaces only what the log held at the start.
    room.rebuilt(Y.mergeUpdates([...copy]), 0)
    await room.compactionRuns(Promise.resolve())
    await durable
    expect(room.compacting).toBe(false)
    const doc = new Y.Doc()
    Y.applyUpdate(doc, room.log.state())
    expect(doc.getText('t').toString()).toContain('before ')
    expect(doc.getText('t').toString()).toContain('during')
  })

  it("the log is read-only to everyone but the room (a type error to write it; the room's methods say what happened)", () => {
    const room = testRoom()
    // @ts-expect-error RoomLog is a read view: append, mark, unmark and rebase are the room's alone.
    const append: unknown = room.log.append
    // @ts-expect-error see above
    const rebase: unknown = room.log.rebase
    // At run time the view is the room's own log: nothing is copied for readers.
    expect([typeof append, typeof rebase]).toEqual(['function', 'function'])
  })
})
