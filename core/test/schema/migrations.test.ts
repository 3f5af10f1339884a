import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import {
  MIGRATION_ORIGIN,
  REMOVE,
  announceSchema,
  defineSchema,
  newerCollaborators,
  openTyped,
  s,
} from '../../src/index.js'
import { Awareness } from 'y-protocols/awareness'
import { boardV1, boardV2, contentOf, newDoc, push, syncAll } from './fixtures.js'

const v1Doc = (clientID: number): Y.Doc => {
  const doc = newDoc(clientID)
  const t = openTyped(doc, boardV1)
  t.root.shapes.insert({ kind: 'rect', x: 0, y: 0, color: 'red' }, { id: 'a' })
  t.root.shapes.insert({ kind: 'sticky', x: 5, y: 5, color: 'yellow', label: 'hi' }, { id: 'b' })
  t.destroy()
  return doc
}

describe('versions and migrations', () => {
  it('SCHEMA-4.1 SCHEMA-4.2 opening an older document migrates it in one transaction and records ids', () => {
    const doc = v1Doc(1)
    const origins: unknown[] = []
    doc.on('afterTransaction', (tr: Y.Transaction) => origins.push(tr.origin))
    const typed = openTyped(doc, boardV2)
    expect(origins).toEqual([MIGRATION_ORIGIN])
    expect(typed.migration).toEqual({ applied: ['whiteboard/2'], records: 2, skipped: 0, remote: false })
    expect(typed.documentVersion).toBe(2)
    expect(typed.root.shapes.get('a')).toMatchObject({ fill: 'red', rotation: 0, layer: 'default' })
    expect(typed.root.shapes.get('b')?.label.toString()).toBe('hi')
    expect(doc.getMap<Y.Map<unknown>>('shapes').get('a')?.has('color')).toBe(false)
    expect(typed.root.layers.get('default')?.name).toBe('Default')
    typed.destroy()
    // re-opening writes nothing
    const again = openTyped(doc, boardV2)
    expect(origins).toHaveLength(1)
    expect(again.migration).toEqual({ applied: [], records: 0, skipped: 0, remote: false })
  })

  it('SCHEMA-4.2 opening a document at the current version writes nothing; a new document is marked', () => {
    const doc = new Y.Doc()
    const updates: Uint8Array[] = []
    doc.on('update', (u: Uint8Array) => updates.push(u))
    openTyped(doc, boardV1).destroy()
    expect(updates).toHaveLength(1)
    openTyped(doc, boardV1).destroy()
    expect(updates).toHaveLength(1)
  })

  it('SCHEMA-4.3 a document-level step that throws writes nothing and leaves the document read-only', () => {
    const doc = v1Doc(1)
    const before = Y.encodeStateVector(doc).join()
    const broken = defineSchema({
      ...boardV2,
      migrations: [
        {
          id: 'whiteboard/2',
          run: (ctx) => {
            ctx.insert('layers', 'x', { name: 'ok' })
            if (ctx.read('shapes', 'b')?.kind === 'sticky') throw new Error('cannot migrate stickies')
          },
          records: { shapes: () => ({ fill: 'x' }) },
        },
      ],
    })
    const typed = openTyped(doc, broken)
    expect(typed.status).toBe('migration-failed')
    expect(typed.migrationError?.migrationId).toBe('whiteboard/2')
    expect(Y.encodeStateVector(doc).join()).toBe(before)
    expect(typed.root.layers.insert({ name: 'n' })).toMatchObject({ ok: false, reason: 'read-only' })
  })

  it('SCHEMA-4.4 record steps also migrate old-version data that arrives later', () => {
    const old = v1Doc(1)
    const doc = newDoc(2)
    push(old, doc)
    const v2 = openTyped(doc, boardV2)
    const migrated: number[] = []
    v2.on('migrated', (e) => migrated.push(e.records))
    // the old peer, still offline, keeps writing v1 data
    const v1 = openTyped(old, boardV1)
    v1.root.shapes.insert({ kind: 'ellipse', x: 1, y: 1, color: 'green' }, { id: 'c' })
    v1.root.shapes.update('a', { color: 'purple' })
    push(old, doc)
    expect(migrated).toEqual([2])
    expect(v2.root.shapes.get('c')).toMatchObject({ fill: 'green', rotation: 0 })
    expect(v2.root.shapes.get('a')?.fill).toBe('purple')
    syncAll([old, doc])
    expect(contentOf(old)).toEqual(contentOf(doc))
    expect(v1.status).toBe('upgrade-required')
  })

  it('SCHEMA-4.5 two peers migrating the same document concurrently converge, nothing duplicated', () => {
    const base = v1Doc(1)
    const a = newDoc(2)
    const b = newDoc(3)
    push(base, a)
    push(base, b)
    const ta = openTyped(a, boardV2)
    const tb = openTyped(b, boardV2)
    ta.root.shapes.update('a', { x: 100 })
    tb.root.layers.update('default', { name: 'Base' })
    syncAll([a, b, base])
    expect(contentOf(a)).toEqual(contentOf(b))
    expect(ta.root.layers.values()).toEqual([{ id: 'default', name: 'Base', visible: true }])
    expect(ta.root.shapes.get('a')).toMatchObject({ x: 100, fill: 'red', rotation: 0 })
    expect(tb.root.shapes.values()).toHaveLength(2)
  })

  it('SCHEMA-4.6 an app older than the document is read-only with upgrade-required, also when it learns it live', () => {
    const doc = v1Doc(1)
    openTyped(doc, boardV2).destroy()
    const old = openTyped(doc, boardV1)
    expect(old.status).toBe('upgrade-required')
    expect(old.root.meta.set('title', 'x')).toMatchObject({ ok: false, reason: 'upgrade-required' })

    const live = newDoc(5)
    const v1 = openTyped(live, boardV1)
    const statuses: string[] = []
    v1.on('status', (e) => statuses.push(`${e.status}@${e.documentVersion}`))
    const other = newDoc(6)
    push(live, other)
    openTyped(other, boardV2)
    push(other, live)
    expect(statuses).toEqual(['upgrade-required@2'])
    expect(v1.root.shapes.insert({ kind: 'rect', x: 0, y: 0, color: 'c' })).toMatchObject({
      reason: 'upgrade-required',
    })
    expect(v1.root.meta.get('title')).toBe('Untitled')
  })

  it('SCHEMA-4.7 peers announce their schema version; newer collaborators are listed', () => {
    const a = new Awareness(newDoc(1))
    const b = new Awareness(newDoc(2))
    announceSchema(a, boardV1)
    announceSchema(b, boardV2)
    // exchange states the way the awareness protocol does
    b.states.set(a.clientID, a.getLocalState() ?? {})
    a.states.set(b.clientID, b.getLocalState() ?? {})
    a.states.set(99, { weftSchema: { name: 'whiteboard', version: 'nine' } })
    expect(newerCollaborators(a, boardV1)).toEqual([{ clientID: b.clientID, version: 2 }])
    expect(newerCollaborators(b, boardV2)).toEqual([])
    a.destroy()
    b.destroy()
  })

  it('SCHEMA-4.8 a document of another schema is read-only', () => {
    const doc = v1Doc(1)
    const other = defineSchema({ name: 'editor', version: 1, root: { body: s.richText() } })
    const typed = openTyped(doc, other)
    expect(typed.status).toBe('wrong-schema')
    expect(typed.refusal?.reason).toBe('read-only')
  })

  it('SCHEMA-4.2 migration helpers: context operations are buffered and deterministic', () => {
    const schema1 = defineSchema({
      name: 'n',
      version: 1,
      root: { settings: s.record({ a: s.number().optional(0) }) },
    })
    const schema3 = defineSchema({
      name: 'n',
      version: 3,
      root: {
        settings: s.record({ b: s.number().optional(0), c: s.string().optional('') }),
        tags: s.collection({ t: s.string() }),
      },
      migrations: [
        { id: 'n/2', run: (ctx) => ctx.set('settings', 'b', Number(ctx.read('settings')?.a ?? 0) * 2) },
        {
          id: 'n/3',
          run: (ctx) => {
            ctx.set('settings', 'a', REMOVE)
            for (const t of ['x', 'y']) ctx.insert('tags', `tag-${t}`, { t })
          },
        },
      ],
    })
    const doc = new Y.Doc()
    openTyped(doc, schema1).root.settings.set('a', 21)
    const typed = openTyped(doc, schema3)
    expect(typed.root.settings.value()).toEqual({ b: 42, c: '' })
    expect(doc.getMap('settings').has('a')).toBe(false)
    expect(typed.root.tags.ids().sort()).toEqual(['tag-x', 'tag-y'])
  })
})
