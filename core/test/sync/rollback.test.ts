import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { keepLocalDeletions, rollbackUpdates } from '../../src/sync/rollback.js'
import { REMOTE, RESTORE, expectConverged, setup } from './rollbackFixture.js'

const shape = (relay: Y.Doc, id: string, fields: Record<string, unknown>) => {
  const m = new Y.Map<unknown>()
  for (const [k, v] of Object.entries(fields)) m.set(k, v)
  relay.getMap('shapes').set(id, m)
}

describe('rollbackUpdates', () => {
  it('RULES-5.4: a map overwrite is undone: the old value is set again under a new client id', () => {
    const { relay, writer, accept, rollback } = setup((r) => shape(r, 's1', { x: 1, y: 1 }))
    const s1 = writer.getMap('shapes').get('s1') as Y.Map<unknown>
    s1.set('x', 2)
    const { result, X } = rollback(accept(0))
    expect(writer.clientID).not.toBe(X)
    expect(s1.toJSON()).toEqual({ x: 1, y: 1 })
    expect(result.lost).toEqual([])
    expectConverged(relay, writer, X, result.fromClock)
  })

  it('RULES-5.6: a replay of the stored history (refused update, rollback, restore) shows the rolled-back value', () => {
    const { relay, writer, accept, rollback, replayed } = setup((r) => shape(r, 's1', { x: 1 }))
    const base = Y.encodeStateAsUpdate(writer)
    writer.clientID = 0xffff0000 // a fresh id drawn anywhere would almost surely sort left of it
    ;(writer.getMap('shapes').get('s1') as Y.Map<unknown>).set('x', 2)
    const { result, X } = rollback(accept(0))
    expect(writer.clientID).toBeGreaterThan(X)
    expect(replayed(base).getMap('shapes').toJSON()).toEqual({ s1: { x: 1 } })
    expectConverged(relay, writer, X, result.fromClock)
  })

  it('RULES-5.4: a key the refused update created disappears; a nested map it created is gone', () => {
    const { relay, writer, accept, rollback } = setup((r) => shape(r, 's1', { x: 1 }))
    const shapes = writer.getMap('shapes')
    writer.transact(() => {
      const m = new Y.Map<unknown>()
      shapes.set('s2', m)
      m.set('x', 5)
      m.set('label', new Y.Text('hi'))
      ;(shapes.get('s1') as Y.Map<unknown>).set('z', 3)
    })
    const { result, X } = rollback(accept(0))
    expect(shapes.toJSON()).toEqual({ s1: { x: 1 } })
    expect(result.fromClock).toBe(0)
    expect(writer.store.clients.has(X)).toBe(false)
    expectConverged(relay, writer, X, result.fromClock)
  })

  it('RULES-5.4: a deleted record (nested map) comes back whole', () => {
    const { relay, writer, accept, rollback } = setup((r) =>
      shape(r, 's1', { x: 1, tags: Y.Array.from([1, 2]) }),
    )
    writer.getMap('shapes').delete('s1')
    const { result, X } = rollback(accept(0))
    expect(writer.getMap('shapes').toJSON()).toEqual({ s1: { x: 1, tags: [1, 2] } })
    expectConverged(relay, writer, X, result.fromClock)
  })

  it('RULES-5.4: array inserts and deletes are undone', () => {
    const { relay, writer, accept, rollback } = setup((r) => r.getArray('list').insert(0, [1, 2, 3, 4]))
    const list = writer.getArray<number>('list')
    writer.transact(() => {
      list.insert(1, [9, 9])
      list.delete(4, 1) // the 3
    })
    const { result, X } = rollback(accept(0))
    expect(list.toArray()).toEqual([1, 2, 3, 4])
    expectConverged(relay, writer, X, result.fromClock)
  })

  it('RULES-5.4: text typed after accepted text of the same client (one merged item) is cut at c', () => {
    const { relay, writer, accept, rollback } = setup((r) => void r.getText('t'))
    const text = writer.getText('t')
    text.insert(0, 'hello')
    text.insert(5, ' world')
    // Yjs merged both insertions into one item of the writer.
    expect(writer.store.clients.get(writer.clientID)?.length).toBe(1)
    const { result, X } = rollback(accept(1))
    expect(text.toString()).toBe('hello')
    expect(result.fromClock).toBe(5)
    expect(Y.decodeStateVector(Y.encodeStateVector(writer)).get(X)).toBe(5)
    expectConverged(relay, writer, X, result.fromClock)
  })

  it('RULES-5.4: deleted text of another client is restored in place', () => {
    const { relay, writer, accept, rollback } = setup((r) => r.getText('t').insert(0, 'hello brave world'))
    const text = writer.getText('t')
    text.delete(5, 6) // " brave"
    text.insert(0, '>') // later, still valid
    const { result, X } = rollback(accept(0))
    expect(text.toString()).toBe('>hello brave world')
    expectConverged(relay, writer, X, result.fromClock)
  })

  it('RULES-5.4: later changes are re-applied: inserts copied, deletions of accepted items kept', () => {
    const { relay, writer, accept, rollback } = setup((r) => {
      shape(r, 's1', { x: 1, y: 1 })
      shape(r, 's2', { x: 1 })
    })
    const shapes = writer.getMap('shapes')
    const s1 = shapes.get('s1') as Y.Map<unknown>
    s1.set('x', 2) // refused
    s1.set('y', 7) // later, valid
    shapes.delete('s2') // later, valid
    const s3 = new Y.Map<unknown>()
    shapes.set('s3', s3) // later, valid
    s3.set('x', 4)
    const { result, X } = rollback(accept(0))
    expect(shapes.toJSON()).toEqual({ s1: { x: 1, y: 7 }, s3: { x: 4 } })
    expectConverged(relay, writer, X, result.fromClock)
  })

  it('RULES-5.4: a concurrent value of another client, overwritten on arrival by the refused one, comes back', () => {
    const { relay, writer, accept, rollback } = setup((r) => {
      r.clientID = 1
      shape(r, 's1', { x: 1 })
    })
    writer.clientID = 0x7ffffff0 // its value sorts right of the other client's concurrent one
    const s1 = writer.getMap('shapes').get('s1') as Y.Map<unknown>
    s1.set('x', 2) // refused
    const other = new Y.Doc()
    other.clientID = 5
    Y.applyUpdate(other, Y.encodeStateAsUpdate(relay))
    ;(other.getMap('shapes').get('s1') as Y.Map<unknown>).set('x', 3)
    const accepted = Y.encodeStateAsUpdate(other, Y.encodeStateVector(relay))
    Y.applyUpdate(relay, accepted, REMOTE)
    Y.applyUpdate(writer, accepted, REMOTE) // deleted at once: the writer's own value stands to its right
    expect(s1.get('x')).toBe(2)
    const { result, X } = rollback(accept(0))
    expect(result.lost).toEqual([])
    expect(s1.get('x')).toBe(3)
    expectConverged(relay, writer, X, result.fromClock)
  })

  it('RULES-5.4: observers see ordinary changes', () => {
    const { writer, accept, rollback } = setup((r) => r.getText('t').insert(0, 'abc'))
    const text = writer.getText('t')
    text.insert(1, 'XY')
    const seen: string[] = []
    text.observe(() => seen.push(text.toString()))
    rollback(accept(0))
    expect(seen).toEqual(['abc'])
  })
})

describe('rollbackUpdates: a refused step 2 (RULES-5.3)', () => {
  /** A writer that synced everything to the relay, then worked offline; its step 2 to the relay is refused. */
  const offline = () => {
    const relay = new Y.Doc()
    const writer = new Y.Doc({ gc: false })
    const shapes = writer.getMap('shapes')
    const notes = writer.getText('notes')
    shapes.set('a', 'A')
    notes.insert(0, 'draft secret text')
    shapes.set('locked', 'ada')
    notes.delete(6, 7) // accepted
    shapes.delete('a') // accepted
    Y.applyUpdate(relay, Y.encodeStateAsUpdate(writer))
    const relaySv = Y.encodeStateVector(relay)
    const acceptedClock = Y.getState(writer.store, writer.clientID)
    notes.insert(notes.length, ' + offline')
    shapes.set('locked', 'bo') // refused
    const step2 = Y.encodeStateAsUpdate(writer, relaySv)
    const relayStep2 = Y.encodeStateAsUpdate(relay, Y.encodeStateVector(writer))
    return { relay, writer, step2, relayStep2, acceptedClock }
  }

  it('RULES-5.3: deletions the relay holds are not restored; the refused content goes, nothing accepted is touched', () => {
    const { relay, writer, step2, relayStep2 } = offline()
    const result = rollbackUpdates({
      doc: writer,
      rejected: step2,
      later: [],
      restoreOrigin: RESTORE,
      held: { deleteSets: [Y.decodeUpdate(relayStep2).ds], clock: 0, deletionsKnown: true },
    })
    expect(writer.getText('notes').toString()).toBe('draft text')
    expect(writer.getMap('shapes').toJSON()).toEqual({ locked: 'ada' })
    if (result.deletions) Y.applyUpdate(relay, result.deletions)
    Y.applyUpdate(relay, Y.encodeStateAsUpdate(writer, Y.encodeStateVector(relay)))
    expect(relay.getMap('shapes').toJSON()).toEqual({ locked: 'ada' })
    expect(relay.getText('notes').toString()).toBe('draft text')
  })

  it('RULES-5.3: with the relay delete set unknown, no deletion of a refused step 2 is restored', () => {
    const { writer, step2 } = offline()
    rollbackUpdates({
      doc: writer,
      rejected: step2,
      later: [],
      restoreOrigin: RESTORE,
      held: { deleteSets: [], clock: 0, deletionsKnown: false },
    })
    // A value the refused set overwrote still comes back (the refused item stood to its right).
    expect(writer.getText('notes').toString()).toBe('draft text')
    expect(writer.getMap('shapes').toJSON()).toEqual({ locked: 'ada' })
  })

  it('RULES-5.3: items of the retired client below the acknowledged clock are never removed', () => {
    const { writer, step2, relayStep2 } = offline()
    const clock = Y.getState(writer.store, writer.clientID) - 1 // everything but the refused set was acknowledged
    rollbackUpdates({
      doc: writer,
      rejected: step2,
      later: [],
      restoreOrigin: RESTORE,
      held: { deleteSets: [Y.decodeUpdate(relayStep2).ds], clock, deletionsKnown: true },
    })
    expect(writer.getText('notes').toString()).toBe('draft text + offline')
    expect(writer.getMap('shapes').toJSON()).toEqual({ locked: 'ada' })
  })
})

describe('keepLocalDeletions (RULES-5.8)', () => {
  const holds = (doc: Y.Doc, text: string) =>
    Buffer.from(Y.encodeStateAsUpdate(doc)).toString('hex').includes(Buffer.from(text).toString('hex'))

  it('RULES-5.8: a local deletion is kept until released up to its mark, then garbage-collected', () => {
    const doc = new Y.Doc()
    let changes = 0
    doc.on('update', (_u: Uint8Array, origin: unknown) => void (origin !== REMOTE && changes++))
    const kept = keepLocalDeletions(
      doc,
      (origin) => origin !== REMOTE,
      () => changes,
    )
    const text = doc.getText('t')
    text.insert(0, 'keep-me-secret!')
    text.delete(0, text.length) // change 2
    expect(holds(doc, 'keep-me-secret!')).toBe(true)
    kept.release(1) // change 2 still unacknowledged
    expect(holds(doc, 'keep-me-secret!')).toBe(true)
    kept.remark(2, 3) // re-sent by a restoring update (change 3)
    kept.release(2)
    expect(holds(doc, 'keep-me-secret!')).toBe(true)
    kept.release(3)
    expect(holds(doc, 'keep-me-secret!')).toBe(false)
    expect(text.toString()).toBe('')
    kept.stop()
  })
})
