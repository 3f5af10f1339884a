import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { CloseCode } from '@weft/core'
import { appendToLog, decodedAll, nextOf } from '../relay/unit/memoryRelay.js'
import { board } from './relayRules.js'
import { openTyped } from '@weft/core'
import { startRuledRelay, Writer } from './relayRules.js'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0)) await fn()
})

const relay = () => {
  const r = startRuledRelay()
  cleanups.push(r.close)
  return r
}

/** The shapes map of `doc` as plain JSON. */
const shapesOf = (doc: Y.Doc) => doc.getMap('shapes').toJSON() as Record<string, Record<string, unknown>>

/** A reader in the room: a document fed with everything the relay forwards to it. */
const reader = async (r: ReturnType<typeof relay>, room: string) => {
  const w = new Writer(r.connect(room, 'reader'))
  // Greeted: it is in the room, so every later broadcast reaches it.
  await nextOf(w.client, 'sync-step2')
  const doc = new Y.Doc()
  return {
    doc,
    /** Applies the next forwarded update. */
    async next(): Promise<void> {
      Y.applyUpdate(doc, (await nextOf(w.client, 'sync-update')).update)
    },
  }
}

describe('the relay decides (RULES-4)', () => {
  it('RULES-4.2 RULES-4.3: a refused update is never stored or forwarded; a rollback writer is told and stays connected', async () => {
    const r = relay()
    const other = await reader(r, 'board-1')
    const alice = new Writer(r.connect('board-1', 'alice'), { clientID: 100 })
    alice.write((shapes) => shapes.insert({ name: 'a', x: 10, author: 'alice' }, { id: 'a' }))
    await other.next()
    expect(shapesOf(other.doc).a?.x).toBe(10)

    const seq = alice.write((shapes) => shapes.insert({ name: 'b', x: 500, author: 'alice' }, { id: 'b' }))
    expect(await nextOf(alice.client, 'rejected')).toEqual({
      type: 'rejected',
      seq,
      ruleId: 'shapes.x.max',
      path: 'shapes/b/x',
      reason: 'x must be <= 100',
    })
    expect(alice.client.closeInfo).toBeNull()

    // A later accepted update reaches the reader and the store; the refused one never does.
    const fresh = new Writer(r.connect('board-1', 'alice'), { clientID: 101 })
    const last = fresh.write((shapes) => shapes.insert({ name: 'c', x: 20, author: 'alice' }, { id: 'c' }))
    await other.next()
    expect(Object.keys(shapesOf(other.doc)).sort()).toEqual(['a', 'c'])
    expect((await nextOf(fresh.client, 'ack')).seq).toBe(last)
    expect(Object.keys(shapesOf(await r.stored('board-1'))).sort()).toEqual(['a', 'c'])
  })

  it('RULES-4.4 RULES-5.1: behind a refusal later updates are refused silently; after rolled-back, the refused clocks still are', async () => {
    const r = relay()
    const alice = new Writer(r.connect('board-1', 'alice'), { clientID: 200 })
    alice.write((shapes) => shapes.insert({ name: 'a', x: 500, author: 'alice' }, { id: 'a' }))
    expect((await nextOf(alice.client, 'rejected')).ruleId).toBe('shapes.x.max')
    // RULES-5.1: sent before the writer knew: refused without a second `rejected`; RULES-5.3: the ack moves past it.
    const fenced = alice.write((shapes) => shapes.insert({ name: 'z', x: 1, author: 'alice' }, { id: 'z' }))
    expect((await nextOf(alice.client, 'ack')).seq).toBe(fenced - 1)
    expect((await nextOf(alice.client, 'ack')).seq).toBe(fenced)
    // A writer that says it rolled back but kept its client id: its update misses the refused clocks (RULES-4.4).
    alice.rolledBack()
    alice.write((shapes) => shapes.update('a', { x: 5 }))
    expect((await nextOf(alice.client, 'rejected')).ruleId).toBe('depends-on-rejected')
    // Told twice in all: the first refusal and this one, never for the fenced update.
    expect(decodedAll(alice.client).filter((m) => m.type === 'rejected')).toHaveLength(2)
    // Under a new client id, a change that depends on nothing refused is accepted.
    expect(alice.client.closeInfo).toBeNull()
    const again = new Writer(r.connect('board-1', 'alice'), { clientID: 201 })
    const seq = again.write((shapes) => shapes.insert({ name: 'b', x: 5, author: 'alice' }, { id: 'b' }))
    expect((await nextOf(again.client, 'ack')).seq).toBe(seq)
    expect(Object.keys(shapesOf(await r.stored('board-1')))).toEqual(['b'])
  })

  it('RULES-5.1 RULES-5.3: the fence is lifted by rolled-back; acks cover refused and accepted updates in order', async () => {
    const r = relay()
    const other = await reader(r, 'board-1')
    const alice = new Writer(r.connect('board-1', 'alice'), { clientID: 210 })
    const first = alice.write((shapes) => shapes.insert({ name: 'a', x: 1, author: 'alice' }, { id: 'a' }))
    await other.next()
    const refused = alice.write((shapes) => shapes.update('a', { x: 500 }))
    const behind = alice.write((shapes) => shapes.insert({ name: 'b', x: 2, author: 'alice' }, { id: 'b' }))
    expect(await nextOf(alice.client, 'rejected')).toMatchObject({ seq: refused, ruleId: 'shapes.x.max' })
    const acks: number[] = []
    while (acks[acks.length - 1] !== behind) acks.push((await nextOf(alice.client, 'ack')).seq)
    expect(acks[0]).toBeGreaterThanOrEqual(first)
    // The writer rolls back (here by hand): `rolled-back`, then a valid update of a new client id is taken.
    const fresh = new Y.Doc()
    fresh.clientID = 211
    openTyped(fresh, board).root.shapes.insert({ name: 'c', x: 3, author: 'alice' }, { id: 'c' })
    alice.rolledBack()
    const after = alice.send(Y.encodeStateAsUpdate(fresh))
    expect((await nextOf(alice.client, 'ack')).seq).toBe(after)
    await other.next()
    expect(Object.keys(shapesOf(other.doc)).sort()).toEqual(['a', 'c'])
    expect(shapesOf(await r.stored('board-1')).a?.x).toBe(1)
  })

  it('RULES-4.3: a stock writer is closed with UpdateRejected (4405); nothing of its update is stored', async () => {
    const r = relay()
    const stock = new Writer(r.connect('board-1', 'alice'), { stock: true })
    stock.write((shapes) => shapes.insert({ name: 'a', x: -1, author: 'alice' }, { id: 'a' }))
    const closed = await stock.client.closed
    expect(closed.code).toBe(CloseCode.UpdateRejected)
    expect(closed.reason).toMatch(/^shapes\.x\.min: /)
    await r.hub.close()
    expect(shapesOf(await r.stored('board-1'))).toEqual({})
  })

  it('RULES-2.3: the relay checks the owner against the connection subject', async () => {
    const r = relay()
    const alice = new Writer(r.connect('board-1', 'alice'), { clientID: 300 })
    const seq = alice.write((shapes) => shapes.insert({ name: 'a', x: 1, author: 'alice' }, { id: 'a' }))
    expect((await nextOf(alice.client, 'ack')).seq).toBe(seq)
    const bob = new Writer(r.connect('board-1', 'bob'), { clientID: 301 })
    await bob.synced()
    bob.write((shapes) => shapes.update('a', { x: 2 }))
    expect(await nextOf(bob.client, 'rejected')).toMatchObject({ ruleId: 'shapes.owner', path: 'shapes/a' })
    const forged = new Writer(r.connect('board-1', 'bob'), { clientID: 302 })
    forged.write((shapes) => shapes.insert({ name: 'f', x: 1, author: 'alice' }, { id: 'f' }))
    expect(await nextOf(forged.client, 'rejected')).toMatchObject({
      ruleId: 'shapes.owner',
      path: 'shapes/f/author',
    })
  })

  it('RULES-2.2 RULES-4.5: an invalid record and an undeclared top-level type are refused', async () => {
    const r = relay()
    const w = new Writer(r.connect('board-1', 'alice'), { clientID: 400 })
    w.write(() => {
      const m = new Y.Map<unknown>()
      m.set('name', 'x')
      m.set('x', 'not a number')
      m.set('author', 'alice')
      m.set('label', new Y.Text())
      w.doc.getMap('shapes').set('bad', m)
    })
    expect(await nextOf(w.client, 'rejected')).toMatchObject({
      ruleId: 'shapes.schema',
      path: 'shapes/bad/x',
    })
    const v = new Writer(r.connect('board-1', 'alice'), { clientID: 401 })
    v.write(() => v.doc.getMap('evil').set('k', 1))
    expect(await nextOf(v.client, 'rejected')).toMatchObject({ ruleId: 'undeclared', path: 'evil' })
  })

  it('RULES-3.3: two writes valid alone but not together: the relay order decides, the later is refused', async () => {
    const r = relay()
    const a = new Writer(r.connect('board-1', 'alice'), { clientID: 500 })
    const b = new Writer(r.connect('board-1', 'bob'), { clientID: 501 })
    const seqA = a.write((shapes) => shapes.insert({ name: 'same', x: 1, author: 'alice' }, { id: 'one' }))
    b.write((shapes) => shapes.insert({ name: 'same', x: 1, author: 'bob' }, { id: 'two' }))
    expect((await nextOf(a.client, 'ack')).seq).toBe(seqA)
    expect(await nextOf(b.client, 'rejected')).toMatchObject({
      ruleId: 'unique:shapes.name',
      path: 'shapes/two/name',
    })
    expect(Object.keys(shapesOf(await r.stored('board-1')))).toEqual(['one'])
  })

  it('RULES-4.6: the view follows what the room took by another way (another node, an epoch switch)', async () => {
    const r = relay()
    const a = new Writer(r.connect('board-1', 'alice'), { clientID: 800 })
    const seq = a.write((shapes) => shapes.insert({ name: 'one', x: 1, author: 'alice' }, { id: 'one' }))
    expect((await nextOf(a.client, 'ack')).seq).toBe(seq)
    // Another node's shape named "two" enters the room's log without passing this relay's rules.
    const elsewhere = new Y.Doc()
    elsewhere.clientID = 801
    openTyped(elsewhere, board).root.shapes.insert({ name: 'two', x: 1, author: 'bob' }, { id: 'b2' })
    const room = r.hub.room('board-1')
    if (!room) throw new Error('room not loaded')
    appendToLog(room, Y.encodeStateAsUpdate(elsewhere))
    a.write((shapes) => shapes.insert({ name: 'two', x: 1, author: 'alice' }, { id: 'a2' }))
    expect(await nextOf(a.client, 'rejected')).toMatchObject({ ruleId: 'unique:shapes.name' })
  })

  it('RULES-4.1: a room no pattern names has no rules', async () => {
    const r = relay()
    const w = new Writer(r.connect('notes-1', 'alice'), { clientID: 600 })
    const seq = w.write((shapes) => shapes.insert({ name: 'a', x: 5000, author: 'bob' }, { id: 'a' }))
    expect((await nextOf(w.client, 'ack')).seq).toBe(seq)
  })

  it('RULES-2.1 RULES-2.5: text edits inside a record are checked against the field rules', async () => {
    const r = relay()
    const w = new Writer(r.connect('board-1', 'alice'), { clientID: 700 })
    const seq = w.write((shapes) =>
      shapes.insert({ name: 'a', x: 1, author: 'alice', label: 'hi' }, { id: 'a' }),
    )
    expect((await nextOf(w.client, 'ack')).seq).toBe(seq)
    w.write((shapes) => (shapes.get('a')?.label as Y.Text).insert(2, ' there, everyone'))
    expect(await nextOf(w.client, 'rejected')).toMatchObject({
      ruleId: 'shapes.label.maxLength',
      path: 'shapes/a/label',
    })
  })
})
