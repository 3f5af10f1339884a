import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import {
  CATALOGUE_COLLECTION,
  CATALOGUE_DELETIONS,
  catalogueEntryBytes,
  catalogueTouchedBy,
} from '../../src/index.js'

const catalogue = (): Y.Doc => {
  const doc = new Y.Doc()
  const record = new Y.Map<unknown>()
  doc.getMap(CATALOGUE_COLLECTION).set('a', record)
  record.set('title', 'x'.repeat(1000))
  return doc
}

describe('catalogueEntryBytes (WS-ACCESS-8)', () => {
  it('WS-ACCESS-8: an entry counts its live fields and deletion entries; overwritten values count nothing', () => {
    const doc = catalogue()
    const first = catalogueEntryBytes(doc, 'a')
    expect(first).toBeGreaterThan(1000)
    expect(first).toBeLessThan(1100)
    ;(doc.getMap(CATALOGUE_COLLECTION).get('a') as Y.Map<unknown>).set('title', 'short')
    expect(catalogueEntryBytes(doc, 'a')).toBeLessThan(100)
    doc.getMap(CATALOGUE_DELETIONS).set('a~7', 'y'.repeat(500))
    doc.getMap(CATALOGUE_DELETIONS).set('ab~7', 'z'.repeat(5000)) // another document's
    expect(catalogueEntryBytes(doc, 'a')).toBeGreaterThan(500)
    expect(catalogueEntryBytes(doc, 'a')).toBeLessThan(600)
    expect(catalogueEntryBytes(doc, 'missing')).toBe(0)
  })

  it('WS-ACCESS-7, WS-ACCESS-8: catalogueTouchedBy reports the bytes an update adds per entry (nested too) and changes outside the entries', () => {
    const doc = catalogue()
    const other = new Y.Doc()
    Y.applyUpdate(other, Y.encodeStateAsUpdate(doc))
    const sv = Y.encodeStateVector(other)
    other.transact(() => {
      const nested = new Y.Map<unknown>()
      ;(other.getMap(CATALOGUE_COLLECTION).get('a') as Y.Map<unknown>).set('meta', nested)
      nested.set('k', 'n'.repeat(2000))
      other.getMap('zzz').set('junk', 1)
    })
    const added = new Map<string, number>()
    const foreign: string[] = []
    const touched = catalogueTouchedBy(doc, Y.encodeStateAsUpdate(other, sv), {
      added: (d, b) => added.set(d, (added.get(d) ?? 0) + b),
      foreign: (root) => foreign.push(root),
    })
    expect([...(touched ?? [])]).toEqual(['a'])
    expect(added.get('a')).toBeGreaterThan(2000)
    expect(added.get('a')).toBeLessThan(2100)
    expect(foreign).toEqual(['zzz'])
  })
})
