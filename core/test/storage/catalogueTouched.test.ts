import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import {
  CATALOGUE_COLLECTION,
  CATALOGUE_DELETIONS,
  catalogueTouched,
  catalogueTouchedBy,
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

/**
 * The reference: the documents `update` touches when applied to `doc` (the transactions it ran, as catalogueTouched
 * reads them), or null when applying it left something pending.
 */
const appliedTouched = (doc: Y.Doc, update: Uint8Array): string[] | null => {
  const transactions: Y.Transaction[] = []
  const seen = (tr: Y.Transaction) => void transactions.push(tr)
  doc.on('afterTransaction', seen)
  Y.applyUpdate(doc, update)
  doc.off('afterTransaction', seen)
  if (doc.store.pendingStructs !== null || doc.store.pendingDs !== null) return null
  return [...catalogueTouched(doc, transactions)].sort()
}

/** What catalogueTouchedBy finds without applying `update` to `doc`; checks `doc` is left as it was. */
const unappliedTouched = (doc: Y.Doc, update: Uint8Array): string[] | null => {
  const before = Y.encodeStateAsUpdate(doc)
  const got = catalogueTouchedBy(doc, update)
  expect(Buffer.compare(Y.encodeStateAsUpdate(doc), before)).toBe(0)
  return got === null ? null : [...got].sort()
}

/** The documents `update` touches in a view of `doc`'s state, both ways (which must agree). */
const touched = (doc: Y.Doc, update: Uint8Array): string[] | null => {
  const state = Y.encodeStateAsUpdate(doc)
  const unapplied = unappliedTouched(view(state), update)
  const applied = appliedTouched(doc, update)
  expect(unapplied).toEqual(applied)
  return applied
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

/** Document ids (no `~`, WORKSPACE id rules) and writers of deletion entries the property test draws from. */
const IDS = ['a', 'b', 'c', 'd', 'e']

/** One change of a catalogue, as drawn: [kind, document, argument, argument]. */
type Op = readonly [number, number, number, number]

const op: fc.Arbitrary<Op> = fc.tuple(fc.nat(10), fc.nat(IDS.length - 1), fc.nat(5), fc.nat(5))

/** Applies `o` to `doc`: records created, replaced, removed; fields, nested maps, arrays, text; deletion entries. */
const change = (doc: Y.Doc, [kind, i, x, y]: Op): void => {
  const id = IDS[i]!
  const recs = records(doc)
  const rec = recs.get(id)
  const meta = rec?.get('meta') as Y.Map<unknown> | undefined
  const tags = meta?.get('tags') as Y.Array<number> | undefined
  const text = rec?.get('body') as Y.Text | undefined
  const dels = doc.getMap(CATALOGUE_DELETIONS)
  switch (kind) {
    case 0: {
      const fresh = new Y.Map<unknown>()
      recs.set(id, fresh)
      fresh.set('id', id)
      const m = new Y.Map<unknown>()
      fresh.set('meta', m)
      m.set('tags', new Y.Array<number>())
      fresh.set('body', new Y.Text('hi'))
      return
    }
    case 1:
      recs.delete(id)
      return
    case 2:
      rec?.set('title', `t${x}`)
      return
    case 3:
      meta?.set(`k${x}`, y)
      return
    case 4:
      if (tags && x % 2 === 0 && tags.length > 0) tags.delete(Math.min(y, tags.length - 1), 1)
      else tags?.insert(Math.min(y, tags.length), [x])
      return
    case 5:
      dels.set(`${id}~w${x}`, { at: y })
      return
    case 6:
      dels.delete(`${id}~w${x}`)
      return
    case 7:
      doc.getMap('__weft').set(`k${x}`, y)
      return
    case 8:
      rec?.delete('meta')
      return
    case 9:
      if (text && x % 2 === 0 && text.length > 0) text.delete(Math.min(y, text.length - 1), 1)
      else text?.insert(Math.min(y, text.length), `${x}`)
      return
    default: {
      // A nested map replaced by another while a field of the old one is set.
      if (!rec) return
      const m = new Y.Map<unknown>()
      rec.set('meta', m)
      m.set('k0', x)
      return
    }
  }
}

/** A document of client `client` holding `state`, after `ops` (each its own transaction). */
const replica = (state: Uint8Array, client: number, ops: readonly Op[]): Y.Doc => {
  const doc = new Y.Doc()
  doc.clientID = client
  Y.applyUpdate(doc, state)
  for (const o of ops) doc.transact(() => change(doc, o))
  return doc
}

describe('catalogueTouchedBy (WS-ACCESS-2, without applying)', () => {
  it('WS-ACCESS-2: for random catalogues and updates, the documents found without applying are those applying touches', () => {
    fc.assert(
      fc.property(
        fc.array(op, { maxLength: 25 }),
        fc.array(op, { maxLength: 10 }),
        fc.array(op, { minLength: 1, maxLength: 12 }),
        fc.array(op, { maxLength: 6 }),
        fc.constantFrom('diff', 'whole', 'tail', 'two writers', 'other writer only'),
        (base, concurrent, writes, more, mode) => {
          const seed = replica(new Uint8Array([0, 0]), 1, base)
          const state = Y.encodeStateAsUpdate(seed)
          // The room went on (concurrent changes the writer has not seen) ...
          const room = Y.encodeStateAsUpdate(replica(state, 3, concurrent))
          // ... while the writer changed its copy.
          const writer = replica(state, 2, [])
          const start = Y.encodeStateVector(writer)
          for (const o of writes) writer.transact(() => change(writer, o))
          const middle = Y.encodeStateVector(writer)
          for (const o of more) writer.transact(() => change(writer, o))
          let update: Uint8Array
          if (mode === 'diff') update = Y.encodeStateAsUpdate(writer, start)
          else if (mode === 'whole') update = Y.encodeStateAsUpdate(writer)
          else if (mode === 'tail')
            update = Y.encodeStateAsUpdate(writer, middle) // may miss what `writes` made
          else {
            // Another writer (client 4) building on this one's changes: sent along with them, or alone (its items
            // then depend on another client's the room lacks).
            const other = replica(Y.encodeStateAsUpdate(writer), 4, more)
            update =
              mode === 'two writers'
                ? Y.mergeUpdates([Y.encodeStateAsUpdate(writer, start), Y.encodeStateAsUpdate(other, middle)])
                : Y.encodeStateAsUpdate(other, Y.encodeStateVector(writer))
          }
          const unapplied = unappliedTouched(view(room), update)
          const applied = appliedTouched(view(room), update)
          expect(unapplied).toEqual(applied)
        },
      ),
      { numRuns: 400 },
    )
  })

  it('WS-ACCESS-2: bytes Yjs cannot read, and a deletion past what the view holds, are unresolvable (null)', () => {
    const state = seeded()
    expect(catalogueTouchedBy(view(state), new Uint8Array([1, 2, 3, 200]))).toBeNull()
    const ahead = write(
      Y.mergeUpdates([state, write(state, (d) => records(d).set('c', new Y.Map()), 5)]),
      (d) => records(d).delete('c'),
    )
    // Only the deletion of a record the view never got: pending in Yjs, null here.
    expect(appliedTouched(view(state), ahead)).toBeNull()
    expect(catalogueTouchedBy(view(state), ahead)).toBeNull()
    // A field set (client 4) in a record another client (5) created that the view never got: its parent is missing.
    const made = Y.mergeUpdates([state, write(state, (d) => records(d).set('c', new Y.Map()), 5)])
    const inside = write(made, (d) => records(d).get('c')?.set('title', 'C'), 4)
    expect(appliedTouched(view(state), inside)).toBeNull()
    expect(catalogueTouchedBy(view(state), inside)).toBeNull()
    // Sent along with what it depends on, it resolves (whatever the order of the clients in the update).
    const both = Y.mergeUpdates([inside, write(state, (d) => records(d).set('c', new Y.Map()), 5)])
    expect(touched(view(state), both)).toEqual(['c'])
  })
})
