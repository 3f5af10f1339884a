import { describe, expect, expectTypeOf, it } from 'vitest'
import * as Y from 'yjs'
import { WeftError } from '../../src/WeftError.js'
import { defineSchema, openTyped, s, type Infer, type Row } from '../../src/index.js'
import { boardV2, newDoc, push } from './fixtures.js'

const updatesOf = (doc: Y.Doc): Uint8Array[] => {
  const seen: Uint8Array[] = []
  doc.on('update', (u: Uint8Array) => seen.push(u))
  return seen
}

describe('declaring a schema', () => {
  it('SCHEMA-1.1 infers TypeScript types from the declaration', () => {
    type Board = Infer<typeof boardV2>
    type Shape = Row<typeof boardV2.root.shapes.record>
    expectTypeOf<Shape['kind']>().toEqualTypeOf<'rect' | 'ellipse' | 'sticky' | 'stroke'>()
    expectTypeOf<Shape['x']>().toEqualTypeOf<number>()
    expectTypeOf<Shape['label']>().toEqualTypeOf<Y.Text>()
    expectTypeOf<Shape['points']>().toEqualTypeOf<readonly number[]>()
    expectTypeOf<Board['meta']['title']>().toEqualTypeOf<string>()
    expectTypeOf<Board['layers']>().toEqualTypeOf<
      ReadonlyMap<string, Row<typeof boardV2.root.layers.record>>
    >()
    const typed = openTyped(new Y.Doc(), boardV2)
    // @ts-expect-error x is a number
    typed.root.shapes.insert({ kind: 'rect', x: 'a', y: 0, fill: 'red', rotation: 0 })
    // @ts-expect-error fill is required
    typed.root.shapes.insert({ kind: 'rect', x: 0, y: 0, rotation: 0 })
    // @ts-expect-error label is text: not settable as a value
    typed.root.shapes.update('id', { label: 'x' })
    expect(typed.root.shapes.insert({ kind: 'sticky', x: 0, y: 0, fill: 'red', rotation: 0 }).ok).toBe(true)
  })

  it('SCHEMA-1.2 refuses mistaken declarations with a WeftError', () => {
    const bad = [
      () => defineSchema({ name: 'a/b', version: 1, root: {} }),
      () => defineSchema({ name: 'a', version: 0, root: {} }),
      () => defineSchema({ name: 'a', version: 1, root: { __weft: s.record({}) } }),
      () => defineSchema({ name: 'a', version: 1, root: { 'x.y': s.record({}) } }),
      () => defineSchema({ name: 'a', version: 1, root: { r: s.record({ ['__proto__']: s.string() }) } }),
      () => defineSchema({ name: 'a', version: 1, root: { c: s.collection({ id: s.string() }) } }),
      () => defineSchema({ name: 'a', version: 1, root: { c: s.collection({ r: s.ref('nope') }) } }),
      () =>
        defineSchema({
          name: 'a',
          version: 1,
          root: { l: s.list(s.record({ c: s.collection({}) as never })) },
        }),
      () => defineSchema({ name: 'a', version: 2, root: {}, migrations: [{ id: 'b/2' }] }),
      () => defineSchema({ name: 'a', version: 2, root: {}, migrations: [{ id: 'a/3' }] }),
      () => defineSchema({ name: 'a', version: 3, root: {}, migrations: [{ id: 'a/3' }, { id: 'a/2' }] }),
      () =>
        defineSchema({
          name: 'a',
          version: 2,
          root: {},
          migrations: [{ id: 'a/2', records: { nope: () => undefined } }],
        }),
      () => s.number().optional('x' as never),
    ]
    for (const f of bad) expect(f).toThrow()
    expect(bad[0]).toThrow(WeftError)
  })

  it('SCHEMA-1.3 stores root entries and root-record containers as top-level types', () => {
    const doc = new Y.Doc()
    const typed = openTyped(doc, boardV2)
    typed.root.meta.text('notes')?.insert(0, 'hello')
    expect(doc.getText('meta.notes').toString()).toBe('hello')
    expect(typed.root.meta.get('notes').toString()).toBe('hello')
    expect(doc.share.has('__weft')).toBe(true)
  })
})

describe('nested containers', () => {
  const page = defineSchema({
    name: 'page',
    version: 1,
    root: {
      page: s.record({
        title: s.string().optional(''),
        blocks: s.collection({
          kind: s.enum(['p', 'h1']),
          body: s.text(),
          style: s.record({ bold: s.boolean().optional(false) }),
        }),
        tags: s.list(s.string()),
      }),
      tasks: s.list(s.record({ done: s.boolean(), label: s.string() })),
    },
  })

  it('SCHEMA-1.3 collections and lists inside root records are top-level types; lists of records work', () => {
    const a = newDoc(1)
    const b = newDoc(2)
    const ta = openTyped(a, page)
    const tb = openTyped(b, page)
    // both peers "create" the nested collection and list concurrently: top-level types merge by name
    ta.root.page
      .collection('blocks')
      ?.insert({ kind: 'h1', body: 'Title', style: { bold: true } }, { id: 'b1' })
    tb.root.page.collection('blocks')?.insert({ kind: 'p', body: 'Text', style: {} }, { id: 'b2' })
    ta.root.page.list('tags')?.push('x')
    tb.root.page.list('tags')?.push('y')
    ta.root.tasks.push({ done: false, label: 'write tests' })
    push(a, b)
    push(b, a)
    const value = ta.value()
    expect([...value.page.blocks.keys()].sort()).toEqual(['b1', 'b2'])
    expect(value.page.blocks.get('b1')?.style.bold).toBe(true)
    expect(value.page.blocks.get('b2')?.body.toString()).toBe('Text')
    expect([...value.page.tags].sort()).toEqual(['x', 'y'])
    expect(a.getMap('page.blocks').size).toBe(2)
    const task = tb.root.tasks.record(0)
    expect(task?.set('done', true)).toEqual({ ok: true })
    expect(tb.root.tasks.toArray()).toEqual([{ done: true, label: 'write tests' }])
    expect(tb.root.page.collection('blocks')?.record('b1')?.record('style')?.get('bold')).toBe(true)
    expect(tb.root.tasks.push({ done: 'no' as never, label: 'x' })).toMatchObject({
      ok: false,
      path: ['tasks', 1, 'done'],
    })
  })
})

describe('typed writes', () => {
  it('SCHEMA-2.1 a bad write returns an error result and writes nothing', () => {
    const doc = new Y.Doc()
    const typed = openTyped(doc, boardV2)
    const updates = updatesOf(doc)
    const cases = [
      typed.root.shapes.insert({ kind: 'hexagon' as 'rect', x: 0, y: 0, fill: 'red', rotation: 0 }),
      typed.root.shapes.insert({ kind: 'rect', x: Number.NaN, y: 0, fill: 'red', rotation: 0 }),
      typed.root.shapes.insert({ kind: 'rect', x: 0, y: 0, fill: 'red', rotation: 0, extra: 1 } as never),
      typed.root.shapes.insert({
        kind: 'rect',
        x: 0,
        y: 0,
        fill: 'red',
        rotation: 0,
        points: [1, 'two' as never],
      }),
      typed.root.meta.set('title', 42 as never),
      typed.root.meta.update({ title: 'ok', budget: 'lots' as never }),
    ]
    for (const r of cases) expect(r).toMatchObject({ ok: false, reason: 'invalid-value' })
    expect(updates).toHaveLength(0)
    expect(typed.root.meta.get('title')).toBe('Untitled')
  })

  it('SCHEMA-2.1 keys named after Object.prototype members are undeclared and refused', () => {
    const doc = new Y.Doc()
    const typed = openTyped(doc, boardV2)
    const updates = updatesOf(doc)
    const shape = { kind: 'rect', x: 0, y: 0, fill: 'red', rotation: 0 } as const
    for (const key of ['constructor', 'toString', 'hasOwnProperty', 'valueOf', '__proto__']) {
      const input = { ...shape }
      Object.defineProperty(input, key, { value: 1, enumerable: true })
      expect(typed.root.shapes.insert(input, { id: key }), key).toMatchObject({
        ok: false,
        reason: 'invalid-value',
        path: ['shapes', key, key],
        message: `shapes.${key}.${key}: not declared`,
      })
      expect(typed.root.layers.insert(JSON.parse(`{"name": "n", "${key}": 2}`) as never)).toMatchObject({
        ok: false,
        reason: 'invalid-value',
      })
      expect(typed.root.meta.update({ [key]: 3 } as never), key).toMatchObject({
        ok: false,
        reason: 'invalid-value',
      })
      expect(typed.root.meta.set(key as never, 3 as never), key).toMatchObject({
        ok: false,
        reason: 'invalid-value',
      })
    }
    expect(updates).toHaveLength(0)
  })

  it('SCHEMA-2.2 an update is checked completely, then written in one transaction', () => {
    const doc = new Y.Doc()
    const typed = openTyped(doc, boardV2)
    const { id } = typed.root.shapes.insert({ kind: 'rect', x: 0, y: 0, fill: 'red', rotation: 0 }) as {
      id: string
    }
    const updates = updatesOf(doc)
    expect(typed.root.shapes.update(id, { x: 10, y: 20, fill: 'blue' })).toEqual({ ok: true })
    expect(updates).toHaveLength(1)
    expect(typed.root.shapes.get(id)).toMatchObject({ x: 10, y: 20, fill: 'blue' })
    expect(typed.root.shapes.update('missing', { x: 1 })).toMatchObject({ ok: false, reason: 'not-found' })
    expect(
      typed.root.shapes.insert({ kind: 'rect', x: 0, y: 0, fill: 'red', rotation: 0 }, { id }),
    ).toMatchObject({
      ok: false,
      reason: 'exists',
    })
    const points = typed.root.shapes.record(id)?.list('points')
    expect(points?.push(1, 2, 3)).toEqual({ ok: true })
    expect(points?.push(4, 'x' as never)).toMatchObject({ ok: false })
    expect(points?.toArray()).toEqual([1, 2, 3])
    expect(points?.delete(0, 2)).toEqual({ ok: true })
    expect(typed.root.shapes.get(id)?.points).toEqual([3])
    expect(typed.root.shapes.delete(id)).toEqual({ ok: true })
    expect(typed.root.shapes.get(id)).toBeUndefined()
  })

  it('SCHEMA-2.3 a reference must point at an existing record when written', () => {
    const typed = openTyped(new Y.Doc(), boardV2)
    const base = { kind: 'rect', x: 0, y: 0, fill: 'red', rotation: 0 } as const
    expect(typed.root.shapes.insert({ ...base, layer: 'nope' })).toMatchObject({
      ok: false,
      reason: 'invalid-value',
    })
    expect(typed.root.shapes.insert({ ...base, layer: 'default' }).ok).toBe(true)
    typed.root.layers.insert({ name: 'Top' }, { id: 'top' })
    const r = typed.root.shapes.insert({ ...base, layer: 'top' }) as { id: string }
    typed.root.layers.delete('top')
    expect(typed.root.shapes.get(r.id)?.layer).toBe('top')
    expect(typed.root.layers.get('top')).toBeUndefined()
  })

  it('SCHEMA-2.4 observers report typed changes with origin, and unsubscribe', () => {
    const a = newDoc(1)
    const b = newDoc(2)
    const ta = openTyped(a, boardV2)
    push(a, b)
    const tb = openTyped(b, boardV2)
    const seen: unknown[] = []
    const off = tb.root.shapes.observe((e) => seen.push({ ...e }))
    const { id } = ta.root.shapes.insert({ kind: 'rect', x: 0, y: 0, fill: 'red', rotation: 0 }) as {
      id: string
    }
    push(a, b)
    const rec = tb.root.shapes.record(id)
    const fields: string[][] = []
    const offRec = rec?.observe((e) => fields.push([...e.fields]))
    ta.root.shapes.update(id, { x: 5 })
    ta.root.shapes.record(id)?.text('label')?.insert(0, 'hi')
    push(a, b)
    tb.transact(() => tb.root.shapes.update(id, { y: 1 }), 'my-origin')
    expect(seen).toEqual([
      { added: [id], updated: [], deleted: [], local: false, origin: 'remote' },
      { added: [], updated: [id], deleted: [], local: false, origin: 'remote' },
      { added: [], updated: [id], deleted: [], local: true, origin: 'my-origin' },
    ])
    expect(fields.map((f) => f.sort())).toEqual([['label', 'x'], ['y']])
    const titles: unknown[] = []
    const offTitle = tb.root.meta.observeField('title', (title, change) => titles.push([title, change.local]))
    ta.root.meta.set('title', 'Plan')
    push(a, b)
    tb.root.meta.set('budget', 3)
    expect(titles).toEqual([['Plan', false]])
    offTitle()
    off()
    offRec?.()
    tb.root.shapes.delete(id)
    expect(seen).toHaveLength(3)
    expect(fields).toHaveLength(2)
  })

  it('SCHEMA-2.5 undo is scoped to chosen parts and never undoes migrations or other origins', () => {
    const doc = new Y.Doc()
    const typed = openTyped(doc, boardV2)
    const undo = typed.undoManager(['shapes'])
    const { id } = typed.root.shapes.insert({ kind: 'rect', x: 0, y: 0, fill: 'red', rotation: 0 }) as {
      id: string
    }
    undo.stopCapturing()
    typed.root.meta.set('title', 'Plan')
    typed.root.shapes.update(id, { x: 9 })
    undo.stopCapturing()
    typed.transact(() => typed.root.shapes.update(id, { y: 7 }), 'elsewhere')
    undo.undo()
    expect(typed.root.shapes.get(id)).toMatchObject({ x: 0, y: 7 })
    expect(typed.root.meta.get('title')).toBe('Plan')
    undo.undo()
    expect(typed.root.shapes.get(id)).toBeUndefined()
    expect(typed.root.layers.get('default')).toBeDefined()
    undo.redo()
    expect(typed.root.shapes.get(id)).toMatchObject({ x: 0 })
    const metaUndo = typed.undoManager([typed.root.meta])
    typed.root.meta.text('notes')?.insert(0, 'abc')
    metaUndo.undo()
    expect(typed.root.meta.get('notes').toString()).toBe('')
  })
})
