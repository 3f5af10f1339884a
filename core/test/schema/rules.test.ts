import { describe, expect, it } from 'vitest'
import {
  checkChanges,
  defineRules,
  sum,
  unique,
  type PlainRecord,
  type RecordChange,
  type Writer,
} from '@weft/core/rules'
import { defineSchema, s, WeftError } from '../../src/index.js'

const board = defineSchema({
  name: 'board',
  version: 1,
  root: {
    layers: s.collection({ name: s.string() }),
    shapes: s.collection({
      name: s.string(),
      x: s.number(),
      author: s.string(),
      layer: s.string().nullable().optional(null),
      label: s.text(),
      budget: s.number().optional(0),
    }),
  },
})

const rules = defineRules(board, {
  collections: {
    shapes: {
      owner: 'author',
      delete: (ctx) => ctx.claims.role === 'admin' || 'only admins delete shapes',
      fields: {
        x: { min: 0, max: 100 },
        name: { immutable: true, maxLength: 8 },
        label: { maxLength: 5 },
        layer: { references: 'layers' },
      },
    },
  },
  constraints: [unique('shapes', 'name'), sum('shapes', 'budget', { max: 10 })],
})

const alice: Writer = { subject: 'alice', claims: {} }
const shape = (id: string, patch: Partial<Record<string, unknown>> = {}): PlainRecord => ({
  id,
  name: id,
  x: 1,
  author: 'alice',
  layer: null,
  label: '',
  budget: 0,
  ...patch,
})

/** Checks `changes` against a collection state `state` (the records after the change). */
const check = (
  changes: RecordChange[],
  writer: Writer = alice,
  state: Record<string, PlainRecord[]> = {},
) => {
  const read = (c: string) => {
    const out = new Map((state[c] ?? []).map((r) => [r.id, r]))
    for (const ch of changes) {
      if (ch.collection !== c) continue
      if (ch.after) out.set(ch.id, ch.after)
      else out.delete(ch.id)
    }
    return out
  }
  return checkChanges(rules, writer, changes, read)
}
const create = (after: PlainRecord): RecordChange => ({
  collection: 'shapes',
  id: after.id,
  before: undefined,
  after,
})
const update = (before: PlainRecord, after: PlainRecord): RecordChange => ({
  collection: 'shapes',
  id: before.id,
  before,
  after,
})

describe('rules beside the schema', () => {
  it('RULES-1.1: names the schema does not declare are refused when the rules are defined', () => {
    expect(() => defineRules(board, { collections: { nope: {} } as never })).toThrow(WeftError)
    expect(() =>
      defineRules(board, { collections: { shapes: { fields: { z: { min: 1 } } as never } } }),
    ).toThrow(/no field "z"/)
    expect(() =>
      defineRules(board, { collections: { shapes: { fields: { layer: { references: 'nope' } } } } }),
    ).toThrow(/no collection/)
    expect(() => defineRules(board, { constraints: [unique('shapes', 'nope')] })).toThrow(WeftError)
  })

  it('RULES-2.3: a record is created with the writer as owner; only the owner changes it; the owner never changes', () => {
    expect(check([create(shape('a'))])).toEqual({ ok: true })
    expect(check([create(shape('a', { author: 'bob' }))])).toMatchObject({
      ok: false,
      ruleId: 'shapes.owner',
      path: ['shapes', 'a', 'author'],
    })
    expect(check([update(shape('a'), shape('a', { x: 2 }))], { subject: 'bob', claims: {} })).toMatchObject({
      ok: false,
      ruleId: 'shapes.owner',
    })
    expect(check([update(shape('a'), shape('a', { author: 'bob' }))])).toMatchObject({
      ruleId: 'shapes.owner',
    })
    expect(check([create(shape('a'))], { subject: undefined, claims: {} })).toMatchObject({
      ruleId: 'shapes.owner',
    })
  })

  it('RULES-2.4: a permission rule refuses with false or its reason; one that throws refuses', () => {
    const del: RecordChange = { collection: 'shapes', id: 'a', before: shape('a'), after: undefined }
    expect(check([del])).toEqual({
      ok: false,
      ruleId: 'shapes.delete',
      path: ['shapes', 'a'],
      reason: 'only admins delete shapes',
    })
    expect(check([del], { subject: 'alice', claims: { role: 'admin' } })).toEqual({ ok: true })
    const throwing = defineRules(board, {
      collections: {
        layers: {
          create: () => {
            throw new Error('boom')
          },
        },
      },
    })
    const v = checkChanges(
      throwing,
      alice,
      [{ collection: 'layers', id: 'l', before: undefined, after: { id: 'l', name: 'l' } }],
      () => new Map(),
    )
    expect(v).toMatchObject({ ok: false, ruleId: 'layers.create', reason: 'the rule failed: boom' })
  })

  it('RULES-2.5: min, max, maxLength (strings and text), immutable, references', () => {
    expect(check([create(shape('a', { x: 101 }))])).toMatchObject({
      ruleId: 'shapes.x.max',
      path: ['shapes', 'a', 'x'],
    })
    expect(check([create(shape('a', { x: -1 }))])).toMatchObject({ ruleId: 'shapes.x.min' })
    expect(check([create(shape('toolongname'))])).toMatchObject({ ruleId: 'shapes.name.maxLength' })
    expect(check([create(shape('a', { label: 'abcdef' }))])).toMatchObject({
      ruleId: 'shapes.label.maxLength',
    })
    expect(check([update(shape('a'), shape('a', { name: 'b' }))])).toMatchObject({
      ruleId: 'shapes.name.immutable',
    })
    expect(check([create(shape('a', { layer: 'l1' }))])).toMatchObject({ ruleId: 'shapes.layer.references' })
    expect(
      check([create(shape('a', { layer: 'l1' }))], alice, { layers: [{ id: 'l1', name: 'one' }] }),
    ).toEqual({
      ok: true,
    })
  })

  it('RULES-2.5: references are checked where the value is written; a deleted referenced record freezes no one', () => {
    // Found by an outside review: deleting a layer (allowed) made every edit of every shape on it refused, so the
    // owner of a layer could freeze everyone's shapes on it.
    const onL1 = shape('a', { layer: 'l1' })
    expect(check([update(onL1, { ...onL1, x: 5 })])).toEqual({ ok: true })
    expect(check([update(onL1, { ...onL1, label: 'b' })])).toEqual({ ok: true })
    expect(check([update(onL1, { ...onL1, layer: 'l2' })])).toMatchObject({
      ruleId: 'shapes.layer.references',
    })
    expect(
      check([update(onL1, { ...onL1, layer: 'l2' })], alice, { layers: [{ id: 'l2', name: 'two' }] }),
    ).toEqual({
      ok: true,
    })
    expect(
      check([{ collection: 'layers', id: 'l1', before: { id: 'l1', name: 'one' }, after: undefined }]),
    ).toEqual({
      ok: true,
    })
  })

  it('RULES-2.2 RULES-2.6: an invalid record is refused before any other rule', () => {
    const v = check([
      {
        ...create(shape('a', { author: 'bob' })),
        invalid: { path: ['shapes', 'a', 'x'], reason: 'expected number' },
      },
    ])
    expect(v).toMatchObject({ ok: false, ruleId: 'shapes.schema', path: ['shapes', 'a', 'x'] })
  })

  it('RULES-3.1: unique over a collection, null values excepted', () => {
    expect(check([create(shape('b', { name: 'a' }))], alice, { shapes: [shape('a')] })).toMatchObject({
      ok: false,
      ruleId: 'unique:shapes.name',
      path: ['shapes', 'b', 'name'],
    })
    expect(check([create(shape('b'))], alice, { shapes: [shape('a')] })).toEqual({ ok: true })
  })

  it('RULES-3.2: sum over a collection', () => {
    const state = { shapes: [shape('a', { budget: 6 })] }
    expect(check([create(shape('b', { budget: 4 }))], alice, state)).toEqual({ ok: true })
    expect(check([create(shape('b', { budget: 5 }))], alice, state)).toMatchObject({
      ok: false,
      ruleId: 'sum:shapes.budget',
    })
  })
})
