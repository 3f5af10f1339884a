import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { META_NAME, openTyped } from '../../src/index.js'
import { boardV1, boardV2, newDoc, syncAll } from './fixtures.js'

describe('markLater: a new document is marked once it has synced', () => {
  it('SCHEMA-4.10: opening a new document with markLater writes nothing; migrate() marks it', () => {
    const doc = newDoc(1)
    const typed = openTyped(doc, boardV2, { markLater: true })
    expect(doc.store.clients.size).toBe(0)
    expect(typed.documentVersion).toBe(0)
    expect(typed.writable).toBe(true)
    expect(typed.migration).toEqual({ applied: [], records: 0, skipped: 0, remote: false })
    expect(typed.migrate()).toEqual({ applied: ['whiteboard/2'], records: 0, skipped: 0, remote: false })
    expect(typed.documentVersion).toBe(2)
    expect(doc.getMap(META_NAME).get('name')).toBe('whiteboard')
    // marked: migrate() again writes nothing
    const origins: unknown[] = []
    doc.on('afterTransaction', (tr: Y.Transaction) => origins.push(tr.origin))
    typed.migrate()
    expect(origins).toEqual([])
  })

  it("SCHEMA-4.10: a replica joining with markLater writes nothing once it holds the creator's marks", () => {
    const creator = newDoc(1)
    openTyped(creator, boardV2).root.shapes.insert(
      { kind: 'rect', x: 0, y: 0, fill: 'red', rotation: 0, layer: 'default' } as never,
      { id: 'a' },
    )
    const joiner = newDoc(2)
    const typed = openTyped(joiner, boardV2, { markLater: true })
    syncAll([creator, joiner])
    typed.migrate()
    expect(typed.documentVersion).toBe(2)
    expect(Y.decodeStateVector(Y.encodeStateVector(joiner)).has(joiner.clientID)).toBe(false)
  })

  it('SCHEMA-4.10: markLater does not defer the migration of a marked document, and a newer schema still marks its version', () => {
    const old = newDoc(1)
    openTyped(old, boardV1).root.shapes.insert({ kind: 'rect', x: 0, y: 0, color: 'red' }, { id: 'a' })
    const typed = openTyped(old, boardV2, { markLater: true })
    expect(typed.documentVersion).toBe(2)
    expect(typed.migration?.applied).toEqual(['whiteboard/2'])
    // a new replica at v2 joining a v1 document: after its sync, migrate() migrates and marks v2
    const v1 = newDoc(3)
    openTyped(v1, boardV1).root.shapes.insert({ kind: 'rect', x: 1, y: 1, color: 'blue' }, { id: 'b' })
    const joiner = newDoc(4)
    const later = openTyped(joiner, boardV2, { markLater: true })
    syncAll([v1, joiner])
    later.migrate()
    expect(later.documentVersion).toBe(2)
    expect(later.root.shapes.get('b')).toMatchObject({ fill: 'blue' })
  })
})
