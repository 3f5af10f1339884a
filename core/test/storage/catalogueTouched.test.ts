import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import {
  CATALOGUE_COLLECTION,
  CATALOGUE_DELETIONS,
  catalogueTouched,
  writeDeletion,
} from '../../src/index.js'

/** A catalogue view as the relay keeps one: the two roots typed as maps, then `state` applied. */
const view = (state?: Uint8Array): Y.Doc => {
  const doc = new Y.Doc()
  doc.getMap(CATALOGUE_COLLECTION)
  doc.getMap(CATALOGUE_DELETIONS)
  if (state) Y.applyUpdate(doc, state)
  return doc
}

/** The documents `update` touches when applied to `doc` (the transactions it ran, as the relay collects them). */
const touched = (doc: Y.Doc, update: Uint8Array): string[] => {
  const transactions: Y.Transaction[] = []
  const seen = (tr: Y.Transaction) => void transactions.push(tr)
  doc.on('afterTransaction', seen)
  Y.applyUpdate(doc, update)
  doc.off('afterTransaction', seen)
  return [...catalogueTouched(doc, transactions)].sort()
}

/** A writer's document holding `state`, and what `change` then writes as one update. */
const write = (state: Uint8Array, change: (doc: Y.Doc) => void, clientID = 2): Uint8Array => {
  const doc = new Y.Doc()
  doc.clientID = clientID
  Y.applyUpdate(doc, state)
  const before = Y.encodeStateVector(doc)
  doc.transact(() => change(doc))
  return Y.encodeStateAsUpdate(doc, before)
}

/** A catalogue with records `a` (title "A") and `b`. */
const seeded = (): Uint8Array => {
  const doc = new Y.Doc()
  doc.clientID = 1
  for (const id of ['a', 'b']) {
    const rec = new Y.Map<unknown>()
    doc.getMap(CATALOGUE_COLLECTION).set(id, rec)
    rec.set('id', id)
    rec.set('title', id.toUpperCase())
  }
  return Y.encodeStateAsUpdate(doc)
}

const records = (doc: Y.Doc) => doc.getMap<Y.Map<unknown>>(CATALOGUE_COLLECTION)

describe('catalogueTouched (WS-ACCESS-2)', () => {
  it('WS-ACCESS-2: a record created, replaced or removed at its key touches that document', () => {
    const state = seeded()
    expect(
      touched(
        view(state),
        write(state, (d) => records(d).set('c', new Y.Map())),
      ),
    ).toEqual(['c'])
    expect(
      touched(
        view(state),
        write(state, (d) => records(d).set('a', new Y.Map())),
      ),
    ).toEqual(['a'])
    expect(
      touched(
        view(state),
        write(state, (d) => records(d).delete('b')),
      ),
    ).toEqual(['b'])
  })

  it('WS-ACCESS-2: a field set or deleted inside a record touches the record, at any depth', () => {
    const state = seeded()
    expect(
      touched(
        view(state),
        write(state, (d) => records(d).get('a')?.set('deleted', true)),
      ),
    ).toEqual(['a'])
    expect(
      touched(
        view(state),
        write(state, (d) => records(d).get('b')?.delete('title')),
      ),
    ).toEqual(['b'])
    const nested = write(state, (d) => records(d).get('a')?.set('tags', new Y.Array()))
    const withTags = Y.mergeUpdates([state, nested])
    const deeper = write(withTags, (d) => (records(d).get('a')?.get('tags') as Y.Array<string>).push(['x']))
    expect(touched(view(withTags), deeper)).toEqual(['a'])
  })

  it('WS-ACCESS-2: a deletion entry touches the document it names; a key without "~" is taken whole', () => {
    const state = seeded()
    expect(
      touched(
        view(state),
        write(state, (d) => writeDeletion(d, 'b', 5)),
      ),
    ).toEqual(['b'])
    expect(
      touched(
        view(state),
        write(state, (d) => d.getMap(CATALOGUE_DELETIONS).set('zz', 1)),
      ),
    ).toEqual(['zz'])
    // A delete as the client writes it: the record's fields and the entry, one document.
    const del = write(state, (d) => {
      records(d).get('a')?.set('deleted', true)
      writeDeletion(d, 'a', 9)
    })
    expect(touched(view(state), del)).toEqual(['a'])
  })

  it('WS-ACCESS-2: other roots, and changes inside a record already replaced, touch no document', () => {
    const state = seeded()
    expect(
      touched(
        view(state),
        write(state, (d) => d.getMap('__weft').set('v', 1)),
      ),
    ).toEqual([])
    expect(
      touched(
        view(state),
        write(state, (d) => d.getText('notes').insert(0, 'x')),
      ),
    ).toEqual([])
    // Written by a writer who still has the old record `a`, after another replaced it: no reader sees it.
    const stale = write(state, (d) => records(d).get('a')?.set('title', 'stale'), 3)
    const replaced = Y.mergeUpdates([state, write(state, (d) => records(d).set('a', new Y.Map()), 4)])
    expect(touched(view(replaced), stale)).toEqual([])
  })
})
