import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { openTyped, type InvalidEvent } from '../../src/index.js'
import { boardV2, contentOf, newDoc, push } from './fixtures.js'

/** A peer that writes junk straight into the Y.Doc, then sends it over. */
let evilClient = 600
const junkPeer = (target: Y.Doc, write: (doc: Y.Doc) => void): void => {
  const evil = newDoc(evilClient++)
  push(target, evil)
  write(evil)
  push(evil, target)
}

const setup = () => {
  const doc = newDoc(1)
  const invalid: InvalidEvent[] = []
  const typed = openTyped(doc, boardV2, { onInvalid: (e) => invalid.push(e) })
  typed.root.shapes.insert(
    { kind: 'rect', x: 1, y: 2, fill: 'red', rotation: 0, label: 'a', points: [1] },
    { id: 'good' },
  )
  typed.root.shapes.insert({ kind: 'rect', x: 1, y: 2, fill: 'red', rotation: 0 }, { id: 'victim' })
  return { doc, typed, invalid }
}

describe('untrusted remote data', () => {
  it('SCHEMA-3.1 SCHEMA-3.2 an invalid field without default skips its record; with a default reads the default', () => {
    const { doc, typed, invalid } = setup()
    junkPeer(doc, (evil) => {
      const shapes = evil.getMap<Y.Map<unknown>>('shapes')
      shapes.get('victim')?.set('x', 'not a number')
      shapes.get('good')?.set('w', { evil: true })
    })
    expect(typed.root.shapes.get('victim')).toBeUndefined()
    expect(typed.root.shapes.values().map((r) => r.id)).toEqual(['good'])
    expect(typed.root.shapes.get('good')?.w).toBe(100)
    expect(invalid).toEqual(
      expect.arrayContaining([
        { path: ['shapes', 'victim', 'x'], value: 'not a number', reason: 'expected number; record skipped' },
        {
          path: ['shapes', 'good', 'w'],
          value: { evil: true },
          reason: 'expected number; read as its default',
        },
      ]),
    )
  })

  it('SCHEMA-3.2 root records read the zero value; invalid list items and non-records are skipped', () => {
    const { doc, typed } = setup()
    junkPeer(doc, (evil) => {
      evil.getMap('meta').set('title', 7)
      evil.getMap('shapes').set('garbage', 'a string where a record belongs')
      const good = evil.getMap<Y.Map<unknown>>('shapes').get('good')
      ;(good?.get('points') as Y.Array<unknown>).push(['x', null, 5])
      good?.set('label', 'plain string, not Y.Text')
      evil.getMap<Y.Map<unknown>>('shapes').get('victim')?.set('label', new Y.Map())
    })
    expect(typed.root.meta.get('title')).toBe('Untitled')
    expect(typed.root.shapes.get('garbage')).toBeUndefined()
    expect(typed.root.shapes.record('victim')?.list('points')?.toArray()).toEqual([])
    expect(typed.root.shapes.get('good')).toBeUndefined()
    expect(typed.root.shapes.values()).toEqual([])
    expect(typed.value().shapes.size).toBe(0)
  })

  it('SCHEMA-3.3 every violation is reported once per path and value', () => {
    const { doc, typed, invalid } = setup()
    junkPeer(doc, (evil) => evil.getMap<Y.Map<unknown>>('shapes').get('victim')?.set('kind', 'hexagon'))
    const count = invalid.length
    expect(count).toBe(1)
    typed.root.shapes.values()
    typed.root.shapes.get('victim')
    expect(invalid).toHaveLength(count)
    expect(typed.validate()).toEqual([
      {
        path: ['shapes', 'victim', 'kind'],
        value: 'hexagon',
        reason: 'expected "rect" | "ellipse" | "sticky" | "stroke"; record skipped',
      },
    ])
    junkPeer(doc, (evil) => evil.getMap<Y.Map<unknown>>('shapes').get('victim')?.set('kind', 'octagon'))
    expect(invalid).toHaveLength(count + 1)
  })

  it('SCHEMA-3.3 validate() returns every violation of a record, not only the first', () => {
    const { doc, typed, invalid } = setup()
    junkPeer(doc, (evil) => {
      const victim = evil.getMap<Y.Map<unknown>>('shapes').get('victim')
      victim?.set('kind', 'hexagon')
      victim?.set('x', 'left')
      victim?.set('fill', 7)
      victim?.set('label', 'not a Y.Text')
      victim?.set('w', null)
    })
    const expected = [
      ['kind', 'hexagon', 'expected "rect" | "ellipse" | "sticky" | "stroke"; record skipped'],
      ['x', 'left', 'expected number; record skipped'],
      ['w', null, 'expected number; read as its default'],
      ['fill', 7, 'expected string; record skipped'],
      ['label', 'not a Y.Text', 'expected Y.Text; record skipped'],
    ].map(([field, value, reason]) => ({ path: ['shapes', 'victim', field], value, reason }))
    expect(typed.validate()).toEqual(expected)
    // the remote change reported them all as well, once each
    expect(invalid).toEqual(expected)
    expect(typed.root.shapes.get('victim')).toBeUndefined()
  })

  it('SCHEMA-3.4 validation never modifies raw data; undeclared fields survive', () => {
    const { doc, typed } = setup()
    junkPeer(doc, (evil) => {
      const shapes = evil.getMap<Y.Map<unknown>>('shapes')
      shapes.get('good')?.set('shadow', { blur: 3 })
      shapes.get('victim')?.set('x', 'bad')
    })
    const before = JSON.stringify(contentOf(doc))
    const updates: Uint8Array[] = []
    doc.on('update', (u: Uint8Array) => updates.push(u))
    typed.validate()
    typed.value()
    expect(JSON.stringify(contentOf(doc))).toBe(before)
    expect(updates).toHaveLength(0)
    typed.root.shapes.update('good', { x: 3 })
    expect(doc.getMap<Y.Map<unknown>>('shapes').get('good')?.get('shadow') as object).toEqual({ blur: 3 })
    // repairing an invalid record through the typed API is allowed
    expect(typed.root.shapes.update('victim', { x: 4 })).toEqual({ ok: true })
    expect(typed.root.shapes.get('victim')?.x).toBe(4)
  })
})
