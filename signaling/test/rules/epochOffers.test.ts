import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { openTyped } from '@weft/core'
import { encodeEpochRecord, startEpoch } from '@weft/core/epochs'
import { Feature, encodeEpochOffer, encodeSyncUpdate } from '@weft/core/protocol'
import { decodedAll, nextOf, sendStep1, weftHello } from '../relay/unit/memoryRelay.js'
import { Writer, board, startRuledRelay } from './relayRules.js'

let relays: Array<ReturnType<typeof startRuledRelay>> = []
afterEach(async () => {
  await Promise.all(relays.map((r) => r.close()))
  relays = []
})

const relay = (...args: Parameters<typeof startRuledRelay>) => {
  const r = startRuledRelay(...args)
  relays.push(r)
  return r
}

const shapesOf = (doc: Y.Doc): Record<string, unknown> => doc.getMap('shapes').toJSON()

/** A document holding only a shape the rules refuse to `mallory`: x out of range, and another writer as author. */
const forbidden = (): Y.Doc => {
  const doc = new Y.Doc()
  doc.clientID = 666
  openTyped(doc, board).root.shapes.insert({ name: 'evil', x: 99_999, author: 'alice' }, { id: 'evil' })
  return doc
}

describe('epoch offers to a ruled room (RULES-4.7)', () => {
  it("RULES-4.7: a writer's epoch offer is ignored: its initial state neither enters the room nor wipes others' records", async () => {
    const r = relay()
    const alice = new Writer(r.connect('board-1', 'alice'), { clientID: 100 })
    const seq = alice.write((shapes) => shapes.insert({ name: 'mine', x: 1, author: 'alice' }, { id: 'a1' }))
    expect((await nextOf(alice.client, 'ack')).seq).toBe(seq)

    const mallory = new Writer(r.connect('board-1', 'mallory'), { clientID: 200 })
    await mallory.synced()
    // The same content as an ordinary update is refused (the control)...
    const old = forbidden()
    mallory.send(Y.encodeStateAsUpdate(old))
    expect(await nextOf(mallory.client, 'rejected')).toMatchObject({ ruleId: 'shapes.owner' })
    // ...and as the `initial` of an epoch offer (the old state as catch-up), without alice's record.
    const { record } = startEpoch(old)
    mallory.client.send(encodeEpochOffer(encodeEpochRecord(record), Y.encodeStateAsUpdate(old)))
    mallory.rolledBack()
    // An update after the offer: once it is acknowledged, the offer was handled (a connection's messages are taken
    // in order), and any switch it started has been queued.
    const after = mallory.write((shapes) =>
      shapes.insert({ name: 'fine', x: 2, author: 'mallory' }, { id: 'm1' }),
    )
    const acks = () => decodedAll(mallory.client).filter((m) => m.type === 'ack')
    while (!acks().some((m) => m.type === 'ack' && m.seq >= after)) await nextOf(mallory.client, 'ack')
    await r.hub.epochs.settled()

    expect(r.hub.room('board-1')?.epoch.id).toBe('0')
    const stored = shapesOf(await r.stored('board-1'))
    expect(Object.keys(stored).sort()).toEqual(['a1', 'm1'])
    expect(stored['a1']).toMatchObject({ name: 'mine', author: 'alice' })
  })

  it('RULES-4.7 RELAY-EPOCH-5: the relay still starts epochs itself in a ruled room, and checks the rules after the switch', async () => {
    const r = relay(undefined, {
      epochs: { autoStart: { minDeletedItems: 0, deletedPerLive: 0, minIntervalMs: 0 } },
    })
    const alice = new Writer(r.connect('board-1', 'alice'), { clientID: 100 })
    const seq = alice.write((shapes) => shapes.insert({ name: 'mine', x: 1, author: 'alice' }, { id: 'a1' }))
    expect((await nextOf(alice.client, 'ack')).seq).toBe(seq)
    const room = r.hub.room('board-1')
    if (!room) throw new Error('room not loaded')
    // What a log compaction reports (RELAY-EPOCH-5): the policy above always starts an epoch.
    room.epoch.compacted({ liveItems: 1, deletedItems: 0 })
    await r.hub.epochs.settled()
    const epoch = room.epoch.id
    expect(epoch).not.toBe('0')

    // A writer in the new epoch: the rules still decide.
    const client = r.connect('board-1', 'bob')
    const doc = new Y.Doc()
    doc.clientID = 300
    sendStep1(client, doc, weftHello({ features: Feature.Ack | Feature.Chunk | Feature.Rollback, epoch }))
    Y.applyUpdate(doc, (await nextOf(client, 'sync-step2')).update)
    expect(shapesOf(doc)).toMatchObject({ a1: { name: 'mine' } })
    const shapes = openTyped(doc, board).root.shapes
    let sent = Y.encodeStateVector(doc)
    const send = (seq: number, change: () => unknown) => {
      change()
      client.send(encodeSyncUpdate(Y.encodeStateAsUpdate(doc, sent), seq, epoch))
      sent = Y.encodeStateVector(doc)
    }
    send(1, () => shapes.insert({ name: 'mine', x: 2, author: 'bob' }, { id: 'b1' }))
    expect(await nextOf(client, 'rejected')).toMatchObject({ seq: 1, ruleId: 'unique:shapes.name' })
    expect(Object.keys(shapesOf(await r.stored('board-1')))).toEqual(['a1'])
  })
})
