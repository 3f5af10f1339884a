/**
 * Migrations meeting junk written by peers with the plain Yjs API (issue 12, item 2): one value that Yjs cannot
 * store must never make opening or a remote change throw, nor leave a record half-migrated.
 */
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import {
  META_NAME,
  addField,
  chainSteps,
  defineSchema,
  openTyped,
  renameField,
  type InvalidEvent,
} from '../../src/index.js'
import { boardV2, newDoc, push } from './fixtures.js'

/** An old (v1) peer that writes shapes with the plain Yjs API, values as given. */
const oldPeer = (clientID: number, shapes: Record<string, Record<string, unknown>>): Y.Doc => {
  const doc = newDoc(clientID)
  doc.transact(() => {
    for (const [id, fields] of Object.entries(shapes)) {
      const map = new Y.Map<unknown>()
      map.set('kind', 'rect')
      map.set('x', 1)
      map.set('y', 2)
      map.set('label', new Y.Text('l'))
      map.set('points', Y.Array.from([1, 2]))
      for (const [k, v] of Object.entries(fields)) map.set(k, v)
      doc.getMap('shapes').set(id, map)
    }
  })
  return doc
}

/** `{"__proto__": null, "a": 1}` as JSON.parse builds it: an own `__proto__` key; lib0 decodes it as a prototype. */
const protoNull = (): unknown => JSON.parse('{"__proto__": null, "a": 1}')

const shapeMap = (doc: Y.Doc, id: string): Y.Map<unknown> =>
  doc.getMap<Y.Map<unknown>>('shapes').get(id) as Y.Map<unknown>

describe('migrations meeting junk from peers (issue 12.2)', () => {
  it('SCHEMA-4.9 a value Yjs cannot store skips its record at open; the others migrate and the mark is written', () => {
    const old = oldPeer(50, {
      good: { color: 'red' },
      proto: { color: protoNull() },
      ctor: { color: { constructor: Object, a: 1 } },
    })
    const doc = newDoc(1)
    push(old, doc)
    // lib0 turned the own __proto__ key into a null prototype, and the `constructor` key into an own property
    expect(Object.getPrototypeOf(shapeMap(doc, 'proto').get('color'))).toBeNull()
    expect(Object.hasOwn(shapeMap(doc, 'ctor').get('color') as object, 'constructor')).toBe(true)
    const invalid: InvalidEvent[] = []
    const typed = openTyped(doc, boardV2, { onInvalid: (e) => invalid.push(e) })
    expect(typed.status).toBe('ready')
    expect(typed.migration).toEqual({ applied: ['whiteboard/2'], records: 1, skipped: 2, remote: false })
    expect(typed.documentVersion).toBe(2)
    expect(doc.getMap(META_NAME).get('m:whiteboard/2')).toBe(true)
    expect(typed.root.shapes.get('good')).toMatchObject({ fill: 'red', rotation: 0 })
    // all or nothing: the skipped records are untouched (no rotation added, color kept)
    for (const id of ['proto', 'ctor']) {
      expect([...shapeMap(doc, id).keys()].sort()).toEqual(['color', 'kind', 'label', 'points', 'x', 'y'])
      expect(typed.root.shapes.get(id)).toBeUndefined()
      expect(invalid).toContainEqual(
        expect.objectContaining({
          path: ['shapes', id, 'fill'],
          reason: expect.stringContaining('record not migrated') as unknown,
        }),
      )
    }
    typed.destroy()
    // every later open works and writes nothing
    const updates: Uint8Array[] = []
    doc.on('update', (u: Uint8Array) => updates.push(u))
    expect(openTyped(doc, boardV2).status).toBe('ready')
    expect(updates).toHaveLength(0)
  })

  it('SCHEMA-4.9 junk arriving from a peer after opening skips its record; applying the update never throws', () => {
    const doc = newDoc(1)
    const invalid: InvalidEvent[] = []
    const typed = openTyped(doc, boardV2, { onInvalid: (e) => invalid.push(e) })
    const migrated: unknown[] = []
    typed.on('migrated', (e) => migrated.push(e))
    const old = oldPeer(51, {
      good: { color: 'blue' },
      proto: { color: protoNull() },
      ctor: { color: { constructor: Object } },
    })
    expect(() => push(old, doc)).not.toThrow()
    expect(migrated).toEqual([{ applied: [], records: 1, skipped: 2, remote: true }])
    expect(typed.root.shapes.get('good')).toMatchObject({ fill: 'blue', rotation: 0 })
    expect(shapeMap(doc, 'proto').has('rotation')).toBe(false)
    expect(shapeMap(doc, 'ctor').has('rotation')).toBe(false)
    expect(invalid.map((e) => e.path)).toEqual(
      expect.arrayContaining([
        ['shapes', 'proto', 'fill'],
        ['shapes', 'ctor', 'fill'],
      ]),
    )
    // an old peer writing junk into an already migrated record: the record is left as it is
    const again = newDoc(52)
    push(doc, again)
    shapeMap(again, 'good').set('color', protoNull())
    // the sender's value has an own __proto__ key; the receiver's a null prototype
    expect(() => push(again, doc)).not.toThrow()
    expect(shapeMap(doc, 'good').get('fill')).toBe('blue')
    expect(Object.getPrototypeOf(shapeMap(doc, 'good').get('color'))).toBeNull()
  })

  it('SCHEMA-4.9 a Y.Map key named __proto__ is a field like any other: steps never see it as a prototype', () => {
    const old = oldPeer(54, { tricky: {} })
    shapeMap(old, 'tricky').set('__proto__', { color: 'from the prototype' })
    const doc = newDoc(1)
    push(old, doc)
    const invalid: InvalidEvent[] = []
    const renameOnly = defineSchema({
      ...boardV2,
      migrations: [{ id: 'whiteboard/2', records: { shapes: renameField('color', 'fill') } }],
    })
    const typed = openTyped(doc, renameOnly, { onInvalid: (e) => invalid.push(e) })
    // no `color` of its own: nothing to rename, so no `fill` appears out of the junk key
    expect(shapeMap(doc, 'tricky').has('fill')).toBe(false)
    expect(typed.root.shapes.get('tricky')).toBeUndefined()
    expect(invalid.map((e) => e.path)).toContainEqual(['shapes', 'tricky', 'fill'])
  })

  it('SCHEMA-4.9 junk in a root record skips that record only', () => {
    const schema = defineSchema({
      ...boardV2,
      migrations: [
        {
          id: 'whiteboard/2',
          records: {
            shapes: chainSteps(renameField('color', 'fill'), addField('rotation', 0)),
            meta: chainSteps(renameField('name', 'title'), addField('stamp', 1)),
          },
        },
      ],
    })
    const old = oldPeer(55, { a: { color: 'red' } })
    old.getMap('meta').set('name', protoNull())
    const doc = newDoc(1)
    push(old, doc)
    const invalid: InvalidEvent[] = []
    const typed = openTyped(doc, schema, { onInvalid: (e) => invalid.push(e) })
    expect(typed.migration).toMatchObject({ records: 1, skipped: 1 })
    expect(doc.getMap('meta').has('stamp')).toBe(false)
    expect(typed.root.meta.get('title')).toBe('Untitled')
    expect(typed.root.shapes.get('a')?.fill).toBe('red')
    expect(invalid.map((e) => e.path)).toContainEqual(['meta', 'title'])
  })

  it('SCHEMA-4.9 a record step that throws skips only that record (SCHEMA-4.3 is for document-level steps)', () => {
    const old = oldPeer(53, { a: { color: 'red' }, b: { color: 'green' } })
    const doc = newDoc(1)
    push(old, doc)
    const picky = defineSchema({
      ...boardV2,
      migrations: [
        {
          id: 'whiteboard/2',
          records: {
            shapes: chainSteps(
              (r) => {
                if (r.color === 'green') throw new Error('no green')
                return undefined
              },
              renameField('color', 'fill'),
              addField('rotation', 0),
            ),
          },
        },
      ],
    })
    const invalid: InvalidEvent[] = []
    const typed = openTyped(doc, picky, { onInvalid: (e) => invalid.push(e) })
    expect(typed.status).toBe('ready')
    expect(typed.migration?.skipped).toBe(1)
    expect(typed.root.shapes.get('a')?.fill).toBe('red')
    expect(shapeMap(doc, 'b').get('color')).toBe('green')
    expect(invalid).toContainEqual({
      path: ['shapes', 'b'],
      value: undefined,
      reason: 'migration step failed on this record: no green; record not migrated',
    })
  })
})
