import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { defineRules, RulesView, type RulesVerdict, type Writer } from '@weft/core/rules'
import { defineSchema, openTyped, s } from '../../src/index.js'

const schema = defineSchema({
  name: 'b',
  version: 2,
  root: {
    settings: s.record({ title: s.string().optional(''), notes: s.text() }),
    items: s.collection({
      author: s.string(),
      size: s.number().optional(1),
      price: s.number().optional(0).keepConflicts(),
      tags: s.list(s.string()),
      points: s.list(s.record({ x: s.number() })),
      body: s.richText(),
      note: s.text(),
    }),
  },
  migrations: [{ id: 'b/2', records: {} }],
})
const rules = defineRules(schema, {
  collections: { items: { owner: 'author', fields: { note: { maxLength: 5 } } } },
})

const alice: Writer = { subject: 'alice', claims: {} }
const mallory: Writer = { subject: 'mallory', claims: {} }

/** Alice's document through the schema (marks written by an honest client), with her record `r`. */
const honest = (): Y.Doc => {
  const doc = new Y.Doc()
  const typed = openTyped(doc, schema)
  const made = typed.root.items.insert(
    { author: 'alice', tags: ['a'], points: [{ x: 1 }], note: 'hi' },
    { id: 'r' },
  )
  expect(made.ok).toBe(true)
  typed.destroy()
  return doc
}

/** The verdict of a fresh view of `doc`'s state on the change `edit` makes to a copy of it, written by `writer`. */
const judge = (doc: Y.Doc, writer: Writer, edit: (copy: Y.Doc) => void): RulesVerdict => {
  const state = Y.encodeStateAsUpdate(doc)
  const copy = new Y.Doc()
  Y.applyUpdate(copy, state)
  const before = Y.encodeStateVector(copy)
  edit(copy)
  const view = new RulesView(rules, state)
  return view.check(Y.encodeStateAsUpdate(copy, before), writer)
}

const record = (doc: Y.Doc): Y.Map<unknown> => doc.getMap<Y.Map<unknown>>('items').get('r') as Y.Map<unknown>

/** Hostile edits of Alice's record that leave its plain value unchanged or hide content from it. */
const hostile: ReadonlyArray<readonly [string, (r: Y.Map<unknown>) => void]> = [
  ['an undeclared 100 KB key', (r) => r.set('junk', 'J'.repeat(100_000))],
  ['an undeclared nested Y.Map', (r) => r.set('nested', new Y.Map())],
  ['a "__proto__" key', (r) => r.set('__proto__', 'x')],
  ['a wrong-type value in an optional field', (r) => r.set('size', 'x'.repeat(1000))],
  [
    '10,000 wrong-type list items',
    (r) => (r.get('tags') as Y.Array<unknown>).push(Array.from({ length: 10_000 }, (_, i) => i)),
  ],
  [
    'a nested Y.Map with 100 KB in a list of strings',
    (r) => {
      const m = new Y.Map()
      m.set('x', 'y'.repeat(100_000))
      ;(r.get('tags') as Y.Array<unknown>).push([m])
    },
  ],
  [
    'an undeclared key in a list record',
    (r) => ((r.get('points') as Y.Array<Y.Map<unknown>>).get(0) as Y.Map<unknown>).set('y', 1),
  ],
  [
    'a 100 KB embed in plain text',
    (r) => (r.get('note') as Y.Text).insertEmbed(1, { big: 'E'.repeat(100_000) }),
  ],
  ['a Y.Map embedded in plain text', (r) => (r.get('note') as Y.Text).insertEmbed(0, new Y.Map())],
  ['a text attribute', (r) => (r.get('note') as Y.Text).setAttribute('a', 'b')],
  ['an XmlText for a text field', (r) => r.set('note', new Y.XmlText('hi'))],
  ['a Y.Map in rich text', (r) => (r.get('body') as Y.XmlFragment).insert(0, [new Y.Map() as never])],
  ['a malformed conflict-register entry', (r) => r.set('price@7', { junk: 'x'.repeat(1000) })],
]

describe('UpdateScreen: content the schema does not declare', () => {
  for (const [what, edit] of hostile) {
    it(`RULES-2.8: ${what} is refused, even for the record's owner`, () => {
      const doc = honest()
      for (const writer of [alice, mallory]) {
        const v = judge(doc, writer, (copy) => edit(record(copy)))
        expect(v.ok, `${what} by ${writer.subject}`).toBe(false)
        if (!v.ok) expect(v.ruleId).toBe('items.schema')
      }
    })
  }

  it('RULES-2.8: what an honest client writes through the schema is accepted', () => {
    const doc = honest()
    const ok = (edit: (copy: Y.Doc) => void) => expect(judge(doc, alice, edit)).toEqual({ ok: true })
    ok((copy) => {
      const t = openTyped(copy, schema)
      const r = t.root.items.record('r')
      expect(r?.update({ size: 3, price: 4 }).ok).toBe(true)
      expect(r?.list('tags')?.push('b').ok).toBe(true)
      expect(r?.list('points')?.push({ x: 2 }).ok).toBe(true)
      t.destroy()
    })
    ok((copy) => (record(copy).get('note') as Y.Text).insert(2, '!'))
    ok((copy) => {
      const body = record(copy).get('body') as Y.XmlFragment
      const p = new Y.XmlElement('paragraph')
      p.setAttribute('align', 'left')
      const text = new Y.XmlText('bold')
      p.insert(0, [text])
      body.insert(0, [p])
      text.format(0, 4, { strong: true })
    })
    ok((copy) => openTyped(copy, schema).root.settings.set('title', 'T'))
  })

  it('RULES-2.8: a root record holds its plain fields only (its text is a top-level type of its own)', () => {
    const v = judge(honest(), alice, (copy) => copy.getMap('settings').set('notes', new Y.Text('x')))
    expect(v.ok).toBe(false)
    if (!v.ok) expect(v.ruleId).toBe('settings.schema')
  })
})

describe('UpdateScreen: any change under a record runs its rules', () => {
  it('RULES-2.7: a non-owner inserting content that is deleted again in the same update is refused (owner)', () => {
    const v = judge(honest(), mallory, (copy) => {
      const note = record(copy).get('note') as Y.Text
      copy.transact(() => {
        note.insert(0, 'x'.repeat(100_000))
        note.delete(0, 100_000)
      })
    })
    expect(v.ok).toBe(false)
    if (!v.ok) expect(v.ruleId).toBe('items.owner')
  })

  it('RULES-2.7 RULES-5.5: a non-owner formatting another’s text (a javascript: link) is refused (owner); the owner may', () => {
    const link = (copy: Y.Doc) =>
      (record(copy).get('note') as Y.Text).format(0, 2, { href: 'javascript:alert(1)' })
    const v = judge(honest(), mallory, link)
    expect(v.ok).toBe(false)
    if (!v.ok) expect(v.ruleId).toBe('items.owner')
    expect(judge(honest(), alice, link)).toEqual({ ok: true })
  })

  it('RULES-2.7: a non-owner adding a conflict-register entry (a forged conflict) is refused (owner)', () => {
    const doc = honest()
    const typed = openTyped(doc, schema)
    expect(typed.root.items.record('r')?.update({ price: 3 }).ok).toBe(true)
    typed.destroy()
    // Alice's entry wins (higher counter), so the plain value stays 3; the entry shows as a conflict everywhere.
    const v = judge(doc, mallory, (copy) => record(copy).set('price@7', { n: 0, v: 99, s: {} }))
    expect(v.ok).toBe(false)
    if (!v.ok) expect(v.ruleId).toBe('items.owner')
  })

  it('RULES-5.5: a non-owner restoring a value as it was (a rollback) is still accepted', () => {
    const v = judge(honest(), mallory, (copy) => record(copy).set('size', 1))
    expect(v).toEqual({ ok: true })
  })
})

describe('UpdateScreen: Weft’s own types', () => {
  const refused = (edit: (doc: Y.Doc) => void, writer: Writer = alice) => {
    const v = judge(honest(), writer, edit)
    expect(v.ok).toBe(false)
    if (!v.ok) expect(v.ruleId).toBe('reserved')
  }
  it('RULES-4.11: a version mark above the schema version is refused', () =>
    refused((d) => d.getMap('__weft').set('v:99', true)))
  it('RULES-4.11: another schema name is refused', () =>
    refused((d) => d.getMap('__weft').set('name', 'other')))
  it('RULES-4.11: a mark of a migration the schema does not declare is refused', () =>
    refused((d) => d.getMap('__weft').set('m:b/9', true)))
  it('RULES-4.11: any other key, value or nested content in the marks is refused', () => {
    refused((d) => d.getMap('__weft').set('x', true))
    refused((d) => d.getMap('__weft').set('v:2', 'yes'))
    refused((d) => d.getMap('__weft').set('v:2', new Y.Map()))
    refused((d) => d.getMap('__weft').delete('v:2'))
    refused((d) => d.getMap('__weft.other').set('a', 1))
    refused((d) => d.getMap('__weft.conflicts').set('x', { path: ['items', 'r', 'price'], value: 1 }))
    refused((d) => d.getMap('__weft.resolved').set('x', 'x'.repeat(1000)))
  })
  it('RULES-4.11: the marks of an honest client, and its conflict log, are accepted', () => {
    const fresh = new Y.Doc()
    const view = new RulesView(rules, new Uint8Array())
    openTyped(fresh, schema).destroy()
    expect(view.check(Y.encodeStateAsUpdate(fresh), alice)).toEqual({ ok: true })
    const entry = { path: ['items', 'r', 'price'], value: 1, winner: 2, writer: 7, clock: 1 }
    const key = JSON.stringify(['items', 'r', 'price', 7, 1])
    expect(judge(honest(), mallory, (d) => d.getMap('__weft.conflicts').set(key, entry))).toEqual({
      ok: true,
    })
    expect(judge(honest(), mallory, (d) => d.getMap('__weft.resolved').set(key, true))).toEqual({ ok: true })
    // Two replicas marking at once: one mark replaces the other.
    expect(judge(honest(), mallory, (d) => d.getMap('__weft').set('v:2', true))).toEqual({ ok: true })
  })
})

/** One hostile edit under Alice's record, drawn at random: every Yjs content type, at every place of the record. */
const hostileEdit = fc.oneof(
  fc.constantFrom(...hostile.map(([, edit]) => edit)),
  fc
    .record({
      key: fc.oneof(
        fc.constantFrom('size', 'author', 'note', 'tags', '__proto__', 'price@1', 'x'),
        fc.string(),
      ),
      value: fc.oneof(fc.jsonValue(), fc.string({ minLength: 1000, maxLength: 20_000 })),
    })
    .map(
      ({ key, value }) =>
        (r: Y.Map<unknown>) =>
          r.set(key, value),
    ),
  fc.record({ text: fc.string({ minLength: 1 }), attrs: fc.dictionary(fc.string(), fc.jsonValue()) }).map(
    ({ text, attrs }) =>
      (r: Y.Map<unknown>) =>
        (r.get('note') as Y.Text).insert(0, text, attrs),
  ),
  fc
    .constantFrom<() => unknown>(
      () => new Y.Map(),
      () => new Y.Array(),
      () => new Y.Text('t'),
      () => new Y.XmlText('t'),
      () => new Y.XmlElement('p'),
      () => new Y.Doc(),
      () => new Uint8Array([1, 2, 3]),
    )
    .chain((make) =>
      fc.constantFrom<(r: Y.Map<unknown>) => void>(
        (r) => (r.get('tags') as Y.Array<unknown>).push([make()]),
        (r) => (r.get('note') as Y.Text).insertEmbed(0, make() as object),
        (r) => r.set('size', make()),
        (r) => r.set('z', make()),
        (r) => r.set('note', make()),
      ),
    ),
  fc
    .string({ minLength: 1 })
    .map((t) => (r: Y.Map<unknown>) => (r.get('tags') as Y.Array<unknown>).push([{ t }])),
)

describe('UpdateScreen: random hostile edits', () => {
  it('RULES-2.7 RULES-2.8: every hostile edit of a non-owner under another’s record is refused; the state stays the honest one', () => {
    const doc = honest()
    const state = Y.encodeStateAsUpdate(doc)
    const view = () => new RulesView(rules, state)
    fc.assert(
      fc.property(fc.array(hostileEdit, { minLength: 1, maxLength: 4 }), (edits) => {
        const copy = new Y.Doc()
        Y.applyUpdate(copy, state)
        const before = Y.encodeStateVector(copy)
        copy.transact(() => {
          for (const edit of edits) {
            try {
              edit(record(copy))
            } catch {
              // Yjs refuses some values itself (a Y.Doc embedded in text): nothing written by that edit.
            }
          }
        })
        const update = Y.encodeStateAsUpdate(copy, before)
        if (Y.decodeUpdate(update).structs.length === 0) return
        expect(view().check(update, mallory).ok).toBe(false)
      }),
      { numRuns: 300, seed: 16 },
    )
    // Nothing was applied to the honest state: a view of it reads Alice's record as she wrote it.
    const after = new Y.Doc()
    Y.applyUpdate(after, state)
    expect(record(after).toJSON()).toEqual(record(doc).toJSON())
  })
})
