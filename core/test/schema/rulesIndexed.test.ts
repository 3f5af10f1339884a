import fc from 'fast-check'
import { describe, expect, it, vi } from 'vitest'
import * as Y from 'yjs'
import {
  RulesView,
  defineRules,
  scanConstraint,
  sum,
  unique,
  type PlainRecord,
  type RecordChange,
} from '@weft/core/rules'
import { ConstraintIndex } from '../../src/rules/ConstraintIndex.js'
import { defineSchema, s } from '../../src/index.js'
import type * as lib0Function from 'lib0/function'

// Every deep comparison the rules make (samePlain) is counted: the measure of a check's work.
const comparisons = vi.hoisted(() => ({ count: 0 }))
vi.mock('lib0/function', async (importOriginal) => {
  const original = await importOriginal<typeof lib0Function>()
  return {
    ...original,
    equalityDeep: (a: unknown, b: unknown) => {
      comparisons.count++
      return original.equalityDeep(a, b)
    },
  }
})

const constraints = [
  unique('items', 'name'),
  sum('items', 'n', { min: -3, max: 6 }),
  sum('items', 'n', { max: 4.5 }),
  unique('items', 'n'),
]
const ids = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']
const names = fc.oneof(
  fc.constantFrom<unknown>('x', 'y', 'z', null, undefined, 1, '1', true),
  fc.constantFrom<unknown>({ k: 1, j: [2] }, { j: [2], k: 1 }, [1, 'x'], ['1', 'x'], { k: undefined }, {}),
)
const numbers = fc.oneof(
  fc.integer({ min: -4, max: 6 }),
  fc.constantFrom<unknown>(0.5, -0.25, Infinity, -Infinity, NaN, 'n', null),
)
const fields = fc.record({ name: names, n: numbers })
/** One update: distinct records, each set to new fields or deleted (`undefined`). */
const update = fc.uniqueArray(fc.tuple(fc.constantFrom(...ids), fc.option(fields, { nil: undefined })), {
  selector: ([id]) => id,
  minLength: 1,
  maxLength: 5,
})
const run = fc.record({
  initial: fc.uniqueArray(fc.tuple(fc.constantFrom(...ids), fields), { selector: ([id]) => id }),
  updates: fc.array(fc.tuple(update, fc.boolean()), { maxLength: 12 }),
})

describe('constraints checked from indexes (RULES-3)', () => {
  it('RULES-3.1 RULES-3.2: the indexed check gives the verdict of a scan of the collection after every change', () => {
    fc.assert(
      fc.property(run, ({ initial, updates }) => {
        const state = new Map(initial.map(([id, f]): [string, PlainRecord] => [id, { ...f, id }]))
        const index = new ConstraintIndex(constraints, () => state)
        for (const [afters, take] of updates) {
          const changes: RecordChange[] = afters.map(([id, f]) => ({
            collection: 'items',
            id,
            before: state.get(id),
            after: f && ({ ...f, id } as PlainRecord),
          }))
          const after = new Map(state)
          for (const c of changes) {
            if (c.after) after.set(c.id, c.after)
            else after.delete(c.id)
          }
          let accepted = true
          for (const k of constraints) {
            const scanned = scanConstraint(k, changes, () => after)
            expect(index.check(k, changes)).toEqual(scanned)
            if (scanned) accepted = false
          }
          // Accepted changes (and, at random, refused ones: a state broken by another way) enter the accepted state.
          if (accepted || take) {
            for (const c of changes) index.set('items', c.id, c.before, c.after)
            state.clear()
            for (const [id, r] of after) state.set(id, r)
          }
        }
      }),
      { numRuns: 400, seed: 16 },
    )
  })

  it('RULES-3.4: the sum is exact: no rounding that depends on the order of additions', () => {
    const k = sum('items', 'n', { max: 6 })
    const state = new Map<string, PlainRecord>([
      ['a', { id: 'a', n: 4 }],
      ['b', { id: 'b', n: 2 }],
    ])
    const index = new ConstraintIndex([k], () => state)
    const tiny: RecordChange = {
      collection: 'items',
      id: 'c',
      before: undefined,
      after: { id: 'c', n: 5e-324 },
    }
    // 6 + 5e-324 is above 6, though a floating-point sum rounds it to 6 (the scan takes it).
    expect(index.check(k, [tiny])).toMatchObject({ ok: false, ruleId: 'sum:items.n' })
    expect(scanConstraint(k, [tiny], () => new Map([...state, ['c', tiny.after as PlainRecord]]))).toBeNull()
    // A value added and taken away a thousand times leaves the total as it was.
    const big = sum('items', 'n', { min: 6, max: 6 })
    const drift = new ConstraintIndex([big], () => state)
    const tenth = { id: 'c', n: 0.1 }
    for (let i = 0; i < 1000; i++) {
      drift.set('items', 'c', undefined, tenth)
      drift.set('items', 'c', tenth, undefined)
    }
    const noop: RecordChange = { collection: 'items', id: 'a', before: state.get('a'), after: state.get('a') }
    expect(drift.check(big, [noop])).toBeNull()
    // Totals beyond a double's range are reported as such.
    const huge: RecordChange = {
      collection: 'items',
      id: 'c',
      before: undefined,
      after: { id: 'c', n: 1.5e308 },
    }
    const twice: RecordChange = {
      collection: 'items',
      id: 'd',
      before: undefined,
      after: { id: 'd', n: 1.5e308 },
    }
    expect(index.check(k, [huge, twice])).toMatchObject({ reason: 'the n of items would add up to Infinity' })
  })

  it('RULES-3.1: one update of 5,000 records is checked with work in proportion to it (not 5,000 x 5,000)', () => {
    const board = defineSchema({
      name: 'board',
      version: 1,
      root: {
        shapes: s.collection({ name: s.string(), x: s.number(), author: s.string(), label: s.text() }),
      },
    })
    const rules = defineRules(board, {
      collections: { shapes: { owner: 'author', fields: { x: { min: 0, max: 100 } } } },
      constraints: [unique('shapes', 'name'), sum('shapes', 'x', { max: 1_000_000 })],
    })
    const writer = { subject: 'tester', claims: {} }
    const K = 5_000
    const doc = new Y.Doc()
    const shapes = doc.getMap<Y.Map<unknown>>('shapes')
    let sent: Uint8Array = new Uint8Array([0])
    /** One update inserting shapes `from` to `to` (plain Yjs, as any client may write them). */
    const batch = (from: number, to: number, name: (i: number) => string) => {
      const before = sent
      doc.transact(() => {
        for (let i = from; i < to; i++) {
          const shape = new Y.Map<unknown>()
          shapes.set(`s${i}`, shape)
          shape.set('name', name(i))
          shape.set('x', 1)
          shape.set('author', 'tester')
          shape.set('label', new Y.Text())
        }
      })
      const update = Y.encodeStateAsUpdate(doc, before)
      sent = Y.encodeStateVector(doc)
      return update
    }
    const view = new RulesView(rules, new Uint8Array())
    comparisons.count = 0
    expect(
      view.check(
        batch(0, K, (i) => `n${i}`),
        writer,
      ),
    ).toEqual({ ok: true })
    expect(comparisons.count).toBeLessThanOrEqual(2 * K)
    // On a collection of 5,000 records, 5,000 more (the last one's name taken) cost the same.
    comparisons.count = 0
    const verdict = view.check(
      batch(K, 2 * K, (i) => (i === 2 * K - 1 ? 'n7' : `n${i}`)),
      writer,
    )
    expect(verdict).toMatchObject({
      ok: false,
      ruleId: 'unique:shapes.name',
      path: ['shapes', `s${2 * K - 1}`, 'name'],
    })
    expect(comparisons.count).toBeLessThanOrEqual(2 * K)
  })
})
