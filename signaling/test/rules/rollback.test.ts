import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { openDocument, openTyped } from '@weft/core'
import { MemoryDocStore } from '@weft/core/testing'
import { appendToLog } from '../relay/unit/memoryRelay.js'
import { MemoryRelayTransport } from './memoryRelayTransport.js'
import {
  board,
  ruledClient,
  settled,
  shapesEverywhere,
  shapesOf,
  startRuledRelay,
  until,
} from './relayRules.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

const client = (r: ReturnType<typeof startRuledRelay>, room: string, subject: string) =>
  ruledClient(r, room, subject, cleanups)

/**
 * Another node stores an invalid shape of alice's (`x` is not a number) in `room` without passing the rules; resolves
 * once `writer` has it.
 */
const storeInvalidShape = async (
  r: ReturnType<typeof startRuledRelay>,
  room: string,
  writer: { doc: Y.Doc },
) => {
  const elsewhere = new Y.Doc()
  const bad = new Y.Map<unknown>()
  elsewhere.getMap('shapes').set('bad', bad)
  bad.set('name', 'bad')
  bad.set('x', 'not a number')
  bad.set('author', 'alice')
  bad.set('label', new Y.Text())
  const loaded = r.hub.room(room)
  if (!loaded) throw new Error('room not loaded')
  appendToLog(loaded, Y.encodeStateAsUpdate(elsewhere))
  await until(writer.doc, () => shapesOf(writer.doc).bad !== undefined)
}

describe('the writer rolls back a rejected update (RULES-5)', () => {
  it('RULES-5.2 RULES-5.4 RULES-5.7: a non-owner moves a locked shape: refused, rolled back, still connected; its next valid edit is kept', async () => {
    const r = startRuledRelay()
    cleanups.push(r.close)
    const alice = await client(r, 'board-1', 'alice')
    alice.typed.root.shapes.insert({ name: 'a', x: 10, author: 'alice' }, { id: 'a' })
    const bob = await client(r, 'board-1', 'bob')
    await until(bob.doc, () => shapesOf(bob.doc).a?.x === 10)

    const rejected = new Promise<{ ruleId: string; path: readonly string[]; seq: number | null }>((resolve) =>
      bob.session.on('rejected', resolve),
    )
    const bobId = bob.doc.clientID
    bob.typed.root.shapes.update('a', { x: 50 }) // refused: only the owner updates (seq s)
    bob.typed.root.shapes.insert({ name: 'b', x: 5, author: 'bob' }, { id: 'b' }) // valid (seq s + 1)
    expect(shapesOf(bob.doc).a?.x).toBe(50)
    const event = await rejected
    expect(event).toMatchObject({ ruleId: 'shapes.owner', path: ['shapes', 'a'] })
    expect(bob.doc.clientID).not.toBe(bobId)
    expect(shapesOf(bob.doc).a?.x).toBe(10)
    expect(shapesOf(bob.doc).b).toMatchObject({ name: 'b', x: 5, author: 'bob' })
    expect(bob.transport.client.closeInfo).toBeNull()

    // The valid edit reaches the relay and alice; the refused one never does.
    await until(alice.doc, () => shapesOf(alice.doc).b !== undefined)
    expect(shapesOf(alice.doc)).toEqual(shapesOf(bob.doc))
    await until(bob.doc, () => true)
    await settled(bob.session)
    expect(shapesOf(await r.stored('board-1'))).toEqual(shapesOf(bob.doc))
    // The state vector of bob's document no longer holds the retired id's refused clocks: both sides agree.
    const storedDoc = await r.stored('board-1')
    expect(Y.decodeStateVector(Y.encodeStateVector(bob.doc)).get(bobId)).toBe(
      Y.decodeStateVector(Y.encodeStateVector(storedDoc)).get(bobId),
    )
  })

  it('RULES-5.3 RULES-5.6 RULES-5.7: a document handle emits rejected, its pending count drops the refused change, and a reload does not bring it back', async () => {
    const r = startRuledRelay()
    cleanups.push(r.close)
    const alice = await client(r, 'board-2', 'alice')
    alice.typed.root.shapes.insert({ name: 'a', x: 10, author: 'alice' }, { id: 'a' })
    const store = new MemoryDocStore()
    const handle = await openDocument({ docId: 'board-2', store })
    const typed = openTyped(handle.doc, board)
    const transport = new MemoryRelayTransport(r.connect('board-2', 'bob'))
    handle.addTransport(transport, { relay: true })
    cleanups.push(() => transport.destroy())
    await until(handle.doc, () => shapesOf(handle.doc).a?.x === 10)

    const stored = new Promise<void>((resolve) => handle.on('rolled-back', () => resolve()))
    const rejected = new Promise<{ ruleId: string; removed: { client: number } | null }>((resolve) =>
      handle.on('rejected', resolve),
    )
    const bobId = handle.doc.clientID
    typed.root.shapes.update('a', { x: 50 })
    expect(handle.pendingChanges).toBeGreaterThan(0)
    const event = await rejected
    expect(event.ruleId).toBe('shapes.owner')
    // RULES-5.7: what left the document, as the retired id's clock range.
    expect(event.removed?.client).toBe(bobId)
    expect(shapesOf(handle.doc).a?.x).toBe(10)
    // RULES-5.3: the relay acknowledges the refused update; the restore (an unchanged value) is acknowledged too.
    if (handle.pendingChanges > 0)
      await new Promise<void>((resolve) =>
        handle.on('pending-changed', ({ pendingChanges }) => pendingChanges === 0 && resolve()),
      )
    await stored
    await handle.flushed()
    await handle.destroy()

    // RULES-5.6: the store holds the rolled-back document.
    const reopened = await openDocument({ docId: 'board-2', store })
    cleanups.push(() => reopened.destroy())
    expect(shapesOf(reopened.doc).a?.x).toBe(10)
    expect(shapesOf(reopened.doc)).toEqual(shapesOf(await r.stored('board-2')))
    // A replay of the stored history may still hold the refused item, deleted: the re-created value (a higher
    // client id) stays the key's value there too.
    expect(bobId).toBeGreaterThan(0)
  })

  it('RULES-5.3 RULES-5.4: a refused step 2 (offline work sent on reconnect) brings back no deletion the relay accepted', async () => {
    const r = startRuledRelay()
    cleanups.push(r.close)
    const alice = await client(r, 'board-4', 'alice')
    alice.typed.root.shapes.insert({ name: 'a', x: 10, author: 'alice' }, { id: 'a' })
    const bob = await client(r, 'board-4', 'bob')
    await until(bob.doc, () => shapesOf(bob.doc).a?.x === 10)
    // Accepted long ago: bob creates a shape of his own and deletes it.
    bob.typed.root.shapes.insert({ name: 'gone', x: 1, author: 'bob' }, { id: 'gone' })
    bob.typed.root.shapes.delete('gone')
    await settled(bob.session)

    // Offline: a refused edit. On reconnect, bob's step 2 carries it with the document's whole delete set.
    bob.session.removeTransport(bob.transport)
    bob.transport.destroy()
    bob.typed.root.shapes.update('a', { x: 50 })
    const rejected = new Promise<{ ruleId: string; removed: { client: number } | null }>((resolve) =>
      bob.session.on('rejected', resolve),
    )
    const bobId = bob.doc.clientID
    const again = new MemoryRelayTransport(r.connect('board-4', 'bob'))
    cleanups.push(() => again.destroy())
    bob.session.addTransport(again)
    const event = await rejected
    expect(event.ruleId).toBe('shapes.owner')
    // The event says what left the document: the step 2's content of the retired id.
    expect(event.removed?.client).toBe(bobId)
    expect(shapesOf(bob.doc).a?.x).toBe(10)
    expect(shapesOf(bob.doc).gone).toBeUndefined()
    // The restore reaches the relay and alice: still no 'gone' anywhere.
    const path = () => bob.session.pathInfo(again, bob.session.paths[0]?.peer ?? ('' as never))
    if (path()?.ackedSeq !== path()?.sentSeq)
      await new Promise<void>((resolve) =>
        bob.session.on('ack', () => path()?.ackedSeq === path()?.sentSeq && resolve()),
      )
    expect(shapesOf(await r.stored('board-4'))).toEqual(shapesOf(bob.doc))
    expect(shapesOf(await r.stored('board-4')).gone).toBeUndefined()
  })

  it('RULES-5.8: deleted content is kept only until its update is acknowledged; then Yjs garbage-collects it', async () => {
    const r = startRuledRelay()
    cleanups.push(r.close)
    const bob = await client(r, 'board-5', 'bob')
    const secret = 'hunter2-pasted-by-mistake'
    const bytes = (s: string) => Buffer.from(s).toString('hex')
    const holds = () => Buffer.from(Y.encodeStateAsUpdate(bob.doc)).toString('hex').includes(bytes(secret))
    bob.typed.root.shapes.insert({ name: secret, x: 1, author: 'bob' }, { id: 'p' })
    bob.typed.root.shapes.delete('p')
    // Unacknowledged: a rollback may need it back.
    expect(holds()).toBe(true)
    await settled(bob.session)
    // Acknowledged: the full state (a compaction, a step 2 to a new peer) no longer carries the deleted text.
    expect(holds()).toBe(false)
    expect(shapesOf(bob.doc).p).toBeUndefined()
  })

  it('RULES-5.6: once everything is acknowledged after a rollback, the client id is drawn uniformly again (ids never crowd near 2^32)', async () => {
    const r = startRuledRelay()
    cleanups.push(r.close)
    const alice = await client(r, 'board-6', 'alice')
    alice.typed.root.shapes.insert({ name: 'a', x: 10, author: 'alice' }, { id: 'a' })
    const bob = await client(r, 'board-6', 'bob')
    await until(bob.doc, () => shapesOf(bob.doc).a?.x === 10)
    const retired: number[] = []
    const drawn: number[] = []
    for (let i = 0; i < 3; i++) {
      const rejected = new Promise<void>((resolve) =>
        bob.session.once('rejected', () => {
          drawn.push(bob.doc.clientID)
          resolve()
        }),
      )
      retired.push(bob.doc.clientID)
      bob.typed.root.shapes.update('a', { x: 50 + i }) // refused: alice's shape
      await rejected
      // The rollback's id is above the retired one (a replay before the compaction shows the restored value).
      expect(drawn[i]).toBeGreaterThan(retired[i] as number)
      await settled(bob.session)
      // Settled: a fresh id, no longer tied to the retired one; the next rollback draws above this one only.
      expect(bob.doc.clientID).not.toBe(drawn[i])
    }
    expect(shapesOf(bob.doc).a?.x).toBe(10)
  })

  it('RULES-5.4: a restore the relay refuses (the old value is invalid) is not restored a third time: no loop', async () => {
    const r = startRuledRelay()
    cleanups.push(r.close)
    const bob = await client(r, 'board-3', 'bob')
    const stored = storeInvalidShape(r, 'board-3', bob)
    bob.session.resync()
    await stored

    const rules: string[] = []
    const third = new Promise<void>((resolve) =>
      bob.session.on('rejected', ({ ruleId }) => rules.push(ruleId) === 3 && resolve()),
    )
    ;(bob.doc.getMap('shapes').get('bad') as Y.Map<unknown>).set('x', 5) // refused: bob creates a shape of alice's
    // Each restore of the invalid value is refused; the third rollback no longer restores, and everything settles.
    await third
    await settled(bob.session)
    expect(rules).toEqual(['shapes.owner', 'shapes.schema', 'shapes.schema'])
    expect(bob.transport.client.closeInfo).toBeNull()
  })

  it('RULES-5.13: a live transaction changing two records, refused for one: only that record goes back, the other change reaches the relay', async () => {
    const r = startRuledRelay()
    cleanups.push(r.close)
    const alice = await client(r, 'board-4', 'alice')
    alice.typed.root.shapes.insert({ name: 'a', x: 10, author: 'alice' }, { id: 'a' })
    const bob = await client(r, 'board-4', 'bob')
    bob.typed.root.shapes.insert({ name: 'b', x: 1, author: 'bob', label: 'hi' }, { id: 'b' })
    await until(bob.doc, () => shapesOf(bob.doc).a?.x === 10)
    await settled(bob.session)

    const rejected = new Promise<{ ruleId: string; path: readonly string[] }>((resolve) =>
      bob.session.on('rejected', resolve),
    )
    // One update: bob's own shape (valid: moved, its label edited, a new shape) and alice's (refused).
    bob.doc.transact(() => {
      bob.typed.root.shapes.update('b', { x: 7 })
      bob.typed.root.shapes.update('a', { x: 50 })
      ;((bob.doc.getMap('shapes').get('b') as Y.Map<unknown>).get('label') as Y.Text).insert(2, '!')
      bob.typed.root.shapes.insert({ name: 'c', x: 3, author: 'bob' }, { id: 'c' })
    })
    expect(await rejected).toMatchObject({ ruleId: 'shapes.owner', path: ['shapes', 'a'] })
    const want = {
      a: { name: 'a', x: 10, author: 'alice', label: '' },
      b: { name: 'b', x: 7, author: 'bob', label: 'hi!' },
      c: { name: 'c', x: 3, author: 'bob', label: '' },
    }
    expect(await shapesEverywhere(r, 'board-4', bob, alice.doc, (s) => s.c !== undefined)).toEqual({
      writer: want,
      stored: want,
      other: want,
    })
    expect(bob.transport.client.closeInfo).toBeNull()
  })

  it('RULES-5.13: a record whose restore is refused twice is removed without restoring; the other records keep being restored and re-sent', async () => {
    const r = startRuledRelay()
    cleanups.push(r.close)
    const alice = await client(r, 'board-5', 'alice')
    alice.typed.root.shapes.insert({ name: 'locked', x: 10, author: 'alice' }, { id: 'locked' })
    const bob = await client(r, 'board-5', 'bob')
    const stored = storeInvalidShape(r, 'board-5', bob)
    bob.session.resync()
    await stored
    await until(bob.doc, () => shapesOf(bob.doc).locked !== undefined)
    await settled(bob.session)

    const rejections: Array<{ ruleId: string; path: readonly string[] }> = []
    const fourth = new Promise<void>((resolve) =>
      bob.session.on('rejected', (e) => rejections.push(e) === 4 && resolve()),
    )
    // One update: the invalid shape moved (refused; its restore, the invalid value, is refused too), the locked one
    // moved (refused; its restore is accepted) and bob's own shape (valid).
    bob.doc.transact(() => {
      ;(bob.doc.getMap('shapes').get('bad') as Y.Map<unknown>).set('x', 5)
      bob.typed.root.shapes.update('locked', { x: 50 })
      bob.typed.root.shapes.insert({ name: 'mine', x: 3, author: 'bob' }, { id: 'mine' })
    })
    await fourth
    await settled(bob.session)
    // Each record is refused once for the move; the invalid one's restore twice (then it is no longer restored).
    expect(rejections.map((e) => `${e.ruleId} ${e.path.slice(0, 2).join('/')}`)).toEqual([
      'shapes.owner shapes/bad',
      'shapes.schema shapes/bad',
      'shapes.schema shapes/bad',
      'shapes.owner shapes/locked',
    ])
    const held = shapesOf(await r.stored('board-5'))
    expect(held.mine).toEqual({ name: 'mine', x: 3, author: 'bob', label: '' })
    expect(held.locked).toEqual({ name: 'locked', x: 10, author: 'alice', label: '' })
    // The locked shape was restored although the invalid one's restores had been refused twice before it.
    expect(shapesOf(bob.doc).locked).toEqual(held.locked)
    expect(shapesOf(bob.doc).mine).toEqual(held.mine)
    expect(bob.transport.client.closeInfo).toBeNull()
  })
})
