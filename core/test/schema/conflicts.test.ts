import { describe, expect, it } from 'vitest'
import type * as Y from 'yjs'
import { defineSchema, openTyped, s } from '../../src/index.js'
import { contentOf, newDoc, push, syncAll } from './fixtures.js'

const ledger = defineSchema({
  name: 'ledger',
  version: 1,
  root: {
    entries: s.collection({ amount: s.number().keepConflicts(), memo: s.string().optional('') }),
    settings: s.record({ limit: s.number().keepConflicts().optional(0), label: s.string().optional('') }),
  },
})

const peers = (n: number) => {
  const docs = Array.from({ length: n }, (_, i) => newDoc(i + 1))
  const typed = docs.map((d) => openTyped(d, ledger))
  syncAll(docs)
  return { docs, typed }
}

describe('conflicts on critical data', () => {
  it('SCHEMA-5.1 SCHEMA-5.2 a value that loses a concurrent write is logged, the same on every peer', () => {
    const { docs, typed } = peers(2)
    const [ta, tb] = typed as [(typeof typed)[0], (typeof typed)[0]]
    ta.root.entries.insert({ amount: 10 }, { id: 'rent' })
    syncAll(docs)
    ta.root.entries.update('rent', { amount: 100 })
    tb.root.entries.update('rent', { amount: 200 })
    const seen: number[] = []
    ta.on('conflict', (e) => seen.push(e.added.length))
    syncAll(docs)
    expect(ta.root.entries.get('rent')?.amount).toBe(tb.root.entries.get('rent')?.amount)
    const winner = ta.root.entries.get('rent')?.amount
    const list = ta.conflicts.list()
    expect(list).toHaveLength(1)
    expect(list[0]).toMatchObject({
      path: ['entries', 'rent', 'amount'],
      value: winner === 100 ? 200 : 100,
      winner,
    })
    expect(tb.conflicts.list()).toEqual(list)
    expect(seen).toEqual([1])
    expect(contentOf(docs[0] as Y.Doc)).toEqual(contentOf(docs[1] as Y.Doc))
  })

  it('SCHEMA-5.1 a write after seeing the other is no conflict; the newer value wins', () => {
    const { docs, typed } = peers(2)
    const [ta, tb] = typed as [(typeof typed)[0], (typeof typed)[0]]
    ta.root.settings.set('limit', 5)
    syncAll(docs)
    tb.root.settings.set('limit', 6)
    syncAll(docs)
    ta.root.settings.set('limit', 7)
    syncAll(docs)
    expect(tb.root.settings.get('limit')).toBe(7)
    expect(ta.conflicts.list()).toEqual([])
    // superseded entries are deleted: one entry left (plus the plain mirror for raw readers)
    expect([...(docs[0] as Y.Doc).getMap('settings').keys()].sort()).toEqual(['limit', 'limit@1'])
  })

  it('SCHEMA-5.2 three concurrent writers: two losers logged once each, no duplicates across peers', () => {
    const { docs, typed } = peers(3)
    typed.forEach((t, i) => t.root.settings.set('limit', (i + 1) * 10))
    // peers detect in different orders
    push(docs[0] as Y.Doc, docs[1] as Y.Doc)
    push(docs[2] as Y.Doc, docs[1] as Y.Doc)
    push(docs[2] as Y.Doc, docs[0] as Y.Doc)
    syncAll(docs)
    const values = new Set(typed.map((t) => t.root.settings.get('limit')))
    expect(values.size).toBe(1)
    const list = typed[0]?.conflicts.list() ?? []
    expect(
      list
        .map((c) => c.value)
        .concat([...values])
        .sort(),
    ).toEqual([10, 20, 30])
    for (const t of typed) expect(t.conflicts.list().map((c) => c.id)).toEqual(list.map((c) => c.id))
  })

  it('SCHEMA-5.3 resolving marks a conflict resolved everywhere; restore writes the losing value back', () => {
    const { docs, typed } = peers(2)
    const [ta, tb] = typed as [(typeof typed)[0], (typeof typed)[0]]
    ta.root.settings.set('limit', 1)
    tb.root.settings.set('limit', 2)
    syncAll(docs)
    const [c] = ta.conflicts.list()
    expect(c).toBeDefined()
    expect(tb.conflicts.resolve(c?.id ?? '', { restore: true })).toEqual({ ok: true })
    syncAll(docs)
    expect(ta.conflicts.list()).toEqual([])
    expect(ta.root.settings.get('limit')).toBe(c?.value)
    expect(tb.conflicts.resolve('nope')).toMatchObject({ ok: false, reason: 'not-found' })
    // a resolution is not undone by a late detection of the same conflict
    const late = newDoc(9)
    push(docs[0] as Y.Doc, late)
    expect(openTyped(late, ledger).conflicts.list()).toEqual([])
  })

  it('SCHEMA-5.4 ordinary fields keep last-writer-wins and log nothing', () => {
    const { docs, typed } = peers(2)
    typed[0]?.root.settings.set('label', 'a')
    typed[1]?.root.settings.set('label', 'b')
    syncAll(docs)
    expect(typed[0]?.root.settings.get('label')).toBe(typed[1]?.root.settings.get('label'))
    expect(typed[0]?.conflicts.list()).toEqual([])
  })

  it('SCHEMA-5.1 malformed register entries from a peer are ignored and reported', () => {
    const { docs, typed } = peers(1)
    const t = typed[0]
    t?.root.settings.set('limit', 3)
    const invalid: unknown[] = []
    t?.on('invalid', (e) => invalid.push(e.path))
    const evil = newDoc(50)
    push(docs[0] as Y.Doc, evil)
    evil.getMap('settings').set('limit@77', { n: 99, v: 'lots', s: {} })
    push(evil, docs[0] as Y.Doc)
    expect(t?.root.settings.get('limit')).toBe(3)
    expect(invalid).toContainEqual(['settings', 'limit@77'])
  })
})
