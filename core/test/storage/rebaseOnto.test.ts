import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { type EpochRecord } from '../../src/index.js'
import { rebaseOnto, startEpoch } from '../../src/storage/epochs.js'

const peer = (client: number): Y.Doc => {
  const doc = new Y.Doc()
  doc.clientID = client
  return doc
}
const sync = (from: Y.Doc, to: Y.Doc): void =>
  Y.applyUpdate(to, Y.encodeStateAsUpdate(from, Y.encodeStateVector(to)))
const exchange = (...docs: Y.Doc[]): void => {
  for (let round = 0; round < 2; round++) for (const a of docs) for (const b of docs) if (a !== b) sync(a, b)
}

/** A peer joins epoch `record`: fresh document from `initial`, what `from` has, then its own rebased changes. */
const switchTo = (record: EpochRecord, old: Y.Doc, client: number, from?: Y.Doc): Y.Doc => {
  const doc = peer(client)
  Y.applyUpdateV2(doc, record.initial)
  if (from) sync(from, doc)
  const result = rebaseOnto(old, record)
  if (!result.ok) throw new Error(result.reason)
  Y.applyUpdate(doc, result.update)
  return doc
}

const deletedItems = (doc: Y.Doc): number => {
  let n = 0
  for (const structs of doc.store.clients.values()) for (const s of structs) if (s.deleted) n += s.length
  return n
}

describe('rebaseOnto: named scenarios (COMPACT-5)', () => {
  it('issue 4: two peers edit offline across an epoch reset and lose nothing', () => {
    const a = peer(101)
    const b = peer(202)
    // Shared history with many tombstones: a shape dragged 300 times, text typed and corrected.
    const shapes = a.getMap<Y.Map<number>>('shapes')
    const s1 = new Y.Map<number>()
    shapes.set('s1', s1)
    for (let i = 0; i < 300; i++) s1.set('x', i)
    s1.set('y', 0)
    const text = a.getText('text')
    text.insert(0, 'The quikc brown fox')
    text.delete(4, 5)
    text.insert(4, 'quick')
    text.format(4, 5, { bold: true })
    const notes = new Y.Text('note')
    shapes.set('s1note', notes as unknown as Y.Map<number>)
    a.getArray<string>('order').push(['s1'])
    sync(a, b)

    // b goes offline; a starts an epoch and keeps working in it.
    const { record, doc: a2 } = startEpoch(a)
    expect(deletedItems(a2)).toBe(0)
    a2.getText('text').insert(0, 'See: ')
    a2.getMap<Y.Map<number>>('shapes').get('s1')?.set('x', 1000)
    a2.getArray<string>('order').push(['a-new'])

    // Offline in the old epoch: b edits text (insert, delete, format), moves s1, adds a shape, edits a nested text.
    const bt = b.getText('text')
    bt.insert(4, 'very ')
    bt.delete(bt.toString().indexOf('brown '), 6)
    bt.format(bt.toString().indexOf('fox'), 3, { italic: true })
    const bs = b.getMap<Y.Map<number>>('shapes')
    bs.get('s1')?.set('y', 7)
    const s2 = new Y.Map<number>()
    bs.set('s2', s2)
    s2.set('x', 5)
    ;(bs.get('s1note') as unknown as Y.Text).insert(4, '!')
    b.getArray<string>('order').push(['s2'])

    // b comes back: COMPACT-5.1 (a kept its old-epoch document), then switches and exchanges in the new epoch.
    sync(a, b)
    const b2 = switchTo(record, b, 203, a2)
    exchange(a2, b2)

    for (const doc of [a2, b2]) {
      expect(doc.getText('text').toString()).toBe('See: The very quick fox')
      expect(doc.getText('text').toDelta()).toEqual([
        { insert: 'See: The very ' },
        { insert: 'quick', attributes: { bold: true } },
        { insert: ' ' },
        { insert: 'fox', attributes: { italic: true } },
      ])
      expect(doc.getMap('shapes').toJSON()).toEqual({ s1: { x: 1000, y: 7 }, s2: { x: 5 }, s1note: 'note!' })
      // 'a-new' (new epoch) and 's2' (re-applied) are concurrent: either order, the same on both peers.
      expect(doc.getArray('order').toJSON().slice(1).sort()).toEqual(['a-new', 's2'])
      expect(doc.getArray('order').toJSON()).toEqual(a2.getArray('order').toJSON())
    }
    expect(Y.encodeStateAsUpdateV2(b2)).toEqual(Y.encodeStateAsUpdateV2(a2))
    // The 300 overwritten values stay in the old epoch only.
    expect(deletedItems(b2)).toBeLessThan(20)
    expect(deletedItems(b)).toBeGreaterThan(300)
  })

  it('COMPACT-5.3: a change re-applied by its author and by a peer that received it is stored once', () => {
    const a = peer(1)
    const b = peer(2)
    const c = peer(3)
    a.getText('t').insert(0, 'base')
    exchange(a, b, c)
    const { record, doc: a2 } = startEpoch(a)
    b.getText('t').insert(4, ' by b')
    b.getMap('m').set('k', 'b')
    sync(b, c) // c received b's offline change in the old epoch
    c.getText('t').insert(0, 'c: ')
    const c2 = switchTo(record, c, 13, a2)
    const b2 = switchTo(record, b, 12, c2)
    exchange(a2, b2, c2)
    for (const doc of [a2, b2, c2]) {
      expect(doc.getText('t').toString()).toBe('c: base by b')
      expect(doc.getMap('m').toJSON()).toEqual({ k: 'b' })
    }
  })

  it('COMPACT-5.3: a change whose author never returns is re-applied by the peer that received it', () => {
    const a = peer(1)
    const b = peer(2)
    const c = peer(3)
    a.getArray<number>('a').push([1, 2, 3])
    exchange(a, b, c)
    const { record, doc: a2 } = startEpoch(a)
    b.getArray<number>('a').insert(1, [10])
    b.getArray<number>('a').delete(3, 1)
    sync(b, c)
    const c2 = switchTo(record, c, 13, a2)
    exchange(a2, c2)
    expect(a2.getArray('a').toJSON()).toEqual([1, 10, 2])
  })

  it('COMPACT-5.1: refuses an old document that does not contain the base', () => {
    const a = peer(1)
    const b = peer(2)
    a.getText('t').insert(0, 'only a has this')
    const { record } = startEpoch(a)
    b.getText('t').insert(0, 'b')
    expect(rebaseOnto(b, record)).toEqual({ ok: false, reason: 'missing-base' })
    sync(a, b)
    expect(rebaseOnto(b, record).ok).toBe(true)
  })

  it('COMPACT-5.2: a document equal to the base re-applies nothing', () => {
    const a = peer(1)
    a.getMap('m').set('k', 1)
    a.getText('t').insert(0, 'x')
    const { record } = startEpoch(a)
    expect(rebaseOnto(a, record)).toMatchObject({ ok: true, insertedLength: 0, deletedLength: 0 })
  })

  it('COMPACT-5.4: deletions of base content, overwrites and key deletions map by id', () => {
    const a = peer(1)
    const b = peer(2)
    a.getText('t').insert(0, 'abcdef')
    a.getMap('m').set('gone', 1)
    a.getMap('m').set('over', 1)
    sync(a, b)
    const { record, doc: a2 } = startEpoch(a)
    b.getText('t').delete(1, 3)
    b.getMap('m').delete('gone')
    b.getMap('m').set('over', 2)
    const b2 = switchTo(record, b, 12)
    exchange(a2, b2)
    expect(a2.getText('t').toString()).toBe('aef')
    expect(a2.getMap('m').toJSON()).toEqual({ over: 2 })
  })

  it('COMPACT-5.5: insertions around content deleted at the base keep their order and gap', () => {
    const a = peer(1)
    const b = peer(2)
    a.getText('t').insert(0, 'A foo B')
    sync(a, b)
    a.getText('t').delete(2, 4) // "A B": foo is deleted at the base
    const { record, doc: a2 } = startEpoch(a)
    const t = b.getText('t') // b still sees "A foo B"
    t.insert(2, 'X')
    t.insert(t.toString().indexOf(' B'), 'Y')
    sync(a, b)
    expect(b.getText('t').toString()).toBe('A XYB') // "foo " deleted by a
    const b2 = switchTo(record, b, 12, a2)
    exchange(a2, b2)
    expect(a2.getText('t').toString()).toBe('A XYB')
  })

  it('COMPACT-5.5: formatting marks of the base are re-used: an insertion next to one stays outside it', () => {
    const a = peer(1)
    const b = peer(2)
    a.getText('t').insert(0, 'ab')
    a.getText('t').format(1, 1, { bold: true })
    sync(a, b)
    const { record, doc: a2 } = startEpoch(a)
    b.getText('t').insert(1, 'X') // plain, before the bold mark
    b.getText('t').insert(0, 'Z')
    b.getText('t').format(3, 1, { bold: null }) // unbold "b": deletes the base's marks
    const b2 = switchTo(record, b, 12, a2)
    exchange(a2, b2)
    expect(a2.getText('t').toDelta()).toEqual(b.getText('t').toDelta())
    expect(a2.getText('t').toDelta()).toEqual([{ insert: 'ZaXb' }])
  })

  it('nested types: created offline, edited inside base types, and edits inside a type deleted at the base', () => {
    const a = peer(1)
    const b = peer(2)
    const list = a.getArray<Y.Map<unknown>>('list')
    const doomed = new Y.Map<unknown>()
    const kept = new Y.Map<unknown>()
    list.push([doomed, kept])
    kept.set('title', new Y.Text('kept'))
    sync(a, b)
    list.delete(0, 1) // doomed is deleted at the base
    const { record, doc: a2 } = startEpoch(a)
    const bl = b.getArray<Y.Map<unknown>>('list')
    ;(bl.get(0) as Y.Map<unknown>).set('lost', 1) // inside doomed: gone once b learns of the deletion, as in the old epoch
    ;((bl.get(1) as Y.Map<unknown>).get('title') as Y.Text).insert(4, '!')
    const fresh = new Y.Map<unknown>()
    const inner = new Y.Array<unknown>()
    fresh.set('inner', inner)
    inner.push([new Y.Text('deep'), 1])
    bl.push([fresh])
    const xml = b.getXmlFragment('xml')
    const p = new Y.XmlElement('p')
    xml.insert(0, [p])
    p.setAttribute('class', 'x')
    p.insert(0, [new Y.XmlText('hi')])
    sync(a, b)
    const b2 = switchTo(record, b, 12, a2)
    exchange(a2, b2)
    expect(a2.getArray('list').toJSON()).toEqual(b.getArray('list').toJSON())
    expect(a2.getArray('list').toJSON()).toEqual([{ title: 'kept!' }, { inner: ['deep', 1] }])
    expect(a2.getXmlFragment('xml').toString()).toBe('<p class="x">hi</p>')
  })

  it('chained epochs: changes re-applied into epoch 1 are re-applied again into epoch 2', () => {
    const a = peer(1)
    const b = peer(2)
    const c = peer(3)
    a.getText('t').insert(0, 'zero')
    exchange(a, b, c)
    const e1 = startEpoch(a)
    b.getText('t').insert(4, ' b')
    const b1 = switchTo(e1.record, b, 12, e1.doc)
    exchange(e1.doc, b1)
    c.getText('t').insert(0, 'c ')
    sync(b1, peer(99)) // no effect: only to show b1 is independent of c
    const e2 = startEpoch(b1, e1.record) // epoch 2 starts before c ever joined epoch 1
    expect(e2.record.seq).toBe(2)
    b1.getText('t').insert(0, '>') // b keeps editing epoch 1 offline
    const c1 = switchTo(e1.record, c, 13, e1.doc) // c joins epoch 1 (a kept it)...
    sync(b1, c1) // ...gets b's late epoch-1 edit (COMPACT-5.1 for epoch 2)...
    // Concurrent insertions at the start: Yjs orders them by client id, in epoch 1 as in epoch 2 (COMPACT-5.3).
    expect(c1.getText('t').toString()).toBe('c >zero b')
    const c2 = switchTo(e2.record, c1, 23, e2.doc) // ...and moves on to epoch 2 with everything it holds.
    exchange(e2.doc, c2)
    expect(e2.doc.getText('t').toString()).toBe('c >zero b')
    expect(c2.getText('t').toString()).toBe('c >zero b')
  })
})
