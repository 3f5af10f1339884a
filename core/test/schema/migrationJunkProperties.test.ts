/**
 * Property test of SCHEMA-4.9: an old peer writes records with adversarial values through the plain Yjs API; a
 * newer peer migrates them at open or when they arrive. Nothing throws, the migration is marked, every record is
 * migrated whole or left untouched (and then reported invalid), clean records always migrate, junk never does, and
 * what the migration wrote decodes as the same value on a third peer.
 */
import fc from 'fast-check'
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
  type Json,
  type RecordStep,
} from '../../src/index.js'
import { boardV2, newDoc, push } from './fixtures.js'

/** `clean`: JSON every peer reads as written; `junk`: nothing a migration may write; `either`: no claim. */
type Class = 'clean' | 'junk' | 'either'
/** A value factory (shared types can be integrated once only) with its class. */
interface Gen {
  readonly make: () => unknown
  readonly cls: Class
  readonly label: string
}
const gen = (cls: Class, label: string, make: () => unknown): Gen => ({ make, cls, label })

const keyArb = fc
  .oneof(
    fc.string({ maxLength: 3 }),
    fc.constantFrom('constructor', 'toString', 'hasOwnProperty', 'valueOf', 'toJSON', 'prototype'),
  )
  .filter((k) => k !== '__proto__')
const leafArb = fc.oneof(
  fc.string({ maxLength: 5 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
)
const { tree: treeArb } = fc.letrec<{ tree: unknown; arr: unknown[]; obj: Record<string, unknown> }>(
  (tie) => ({
    tree: fc.oneof({ depthSize: 'small' }, leafArb, tie('arr'), tie('obj')),
    arr: fc.array(tie('tree'), { maxLength: 3 }),
    obj: fc.dictionary(keyArb, tie('tree'), { maxKeys: 3, noNullPrototype: true }),
  }),
)
/** Clean JSON a peer can write at the top of a field (Yjs refuses an own `constructor` key there). */
const cleanJsonArb = treeArb.filter(
  (v) => typeof v !== 'object' || v === null || !Object.hasOwn(v, 'constructor'),
)

const nest = (depth: number, leaf: unknown): unknown => {
  let v = leaf
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { k: v }
  return v
}

const cleanArb: fc.Arbitrary<Gen> = fc.oneof(
  cleanJsonArb.map((v) => gen('clean', `json ${JSON.stringify(v)}`, () => structuredClone(v))),
  fc.constant(gen('clean', 'huge string', () => 'x'.repeat(200_000))),
  fc.constant(gen('clean', '300 levels deep', () => nest(300, 'bottom'))),
  fc.constant(
    gen('clean', 'shared sub-values (cyclic-looking, no cycle)', () => {
      const shared = { a: [1, 2, { b: 'c' }] }
      const twice = [shared, shared]
      return { p: shared, q: twice, r: [twice, twice] }
    }),
  ),
)

const junkArb: fc.Arbitrary<Gen> = fc.oneof(
  fc.constantFrom(
    gen('junk', 'Y.Text', () => new Y.Text('t')),
    gen('junk', 'Y.Array', () => Y.Array.from([1])),
    gen('junk', 'Y.Map', () => new Y.Map([['a', 1]])),
    gen('junk', 'Y.XmlFragment', () => new Y.XmlFragment()),
    gen('junk', 'Y.XmlElement', () => new Y.XmlElement('p')),
    gen('junk', 'Uint8Array', () => new Uint8Array([1, 2, 3])),
    gen('junk', 'subdocument', () => new Y.Doc()),
    gen('junk', 'undefined', () => undefined),
    gen('junk', 'NaN', () => NaN),
    gen('junk', 'Infinity', () => -Infinity),
    gen('junk', 'nested function', () => ({ f: () => 1, a: 1 })),
    gen('junk', 'nested undefined', () => [1, undefined]),
    gen('junk', 'nested Uint8Array', () => ({ bytes: new Uint8Array([9]) })),
    gen('junk', 'nested bigint', () => ({ n: 12n })),
    gen('junk', 'constructor: Object (decodes as an own undefined constructor)', () => ({
      constructor: Object,
      a: 1,
    })),
    gen('junk', '1,500 levels deep', () => nest(1500, 'bottom')),
  ),
  fc.bigInt().map((n) => gen('junk', `bigint ${n}`, () => n)),
  // an own __proto__ key (as JSON.parse builds it): lib0 decodes it by setting the prototype
  fc
    .tuple(
      fc.oneof(
        fc.constant(null),
        treeArb.filter((v) => typeof v === 'object'),
      ),
      fc.boolean(),
    )
    .map(([proto, nested]) => {
      const json = `{"__proto__": ${JSON.stringify(proto)}, "a": 1}`
      return gen('junk', `own __proto__ ${json}${nested ? ' nested' : ''}`, () =>
        nested ? { inner: [JSON.parse(json)] } : JSON.parse(json),
      )
    }),
)

/** A color: a clean string migrates; junk never does; other clean JSON migrates but reads invalid. */
const colorArb: fc.Arbitrary<Gen> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 6 }).map((c) => gen('clean', `"${c}"`, () => c)) },
  { weight: 3, arbitrary: junkArb },
  { weight: 1, arbitrary: cleanArb.map((g) => ({ ...g, cls: 'either' as const })) },
)
/** An undeclared field that the migration copies into `extraCopy`. */
const extraArb: fc.Arbitrary<Gen | null> = fc.oneof(
  fc.constant(null),
  cleanArb,
  junkArb,
  // an own __proto__ key whose value is no object: the receiver just drops it (no claim)
  fc.constant(gen('either', '__proto__: 5', () => JSON.parse('{"__proto__": 5, "b": 2}'))),
)

const copyExtra: RecordStep = (r) => (Object.hasOwn(r, 'extra') ? { extraCopy: r.extra as Json } : undefined)
const schema = defineSchema({
  ...boardV2,
  migrations: [
    {
      id: 'whiteboard/2',
      records: { shapes: chainSteps(renameField('color', 'fill'), addField('rotation', 0), copyExtra) },
      run: (ctx) => ctx.insert('layers', 'default', { name: 'Default' }),
    },
  ],
})

interface Rec {
  readonly color: Gen
  readonly extra: Gen | null
}
const classOf = ({ color, extra }: Rec): Class =>
  color.cls === 'junk' || extra?.cls === 'junk'
    ? 'junk'
    : color.cls === 'clean' && (extra === null || extra.cls === 'clean')
      ? 'clean'
      : 'either'

/** The old peer: plain Yjs, v1 layout. */
const writeOld = (doc: Y.Doc, recs: readonly Rec[]): void =>
  doc.transact(() => {
    recs.forEach((rec, i) => {
      const map = new Y.Map<unknown>()
      map.set('kind', 'rect')
      map.set('x', i)
      map.set('y', 0)
      map.set('label', new Y.Text())
      map.set('points', new Y.Array())
      map.set('color', rec.color.make())
      if (rec.extra) map.set('extra', rec.extra.make())
      doc.getMap('shapes').set(`r${i}`, map)
    })
  })

const scenarioArb = fc.record({
  recs: fc.array(fc.record({ color: colorArb, extra: extraArb }), { minLength: 1, maxLength: 6 }),
  mode: fc.constantFrom('open' as const, 'remote' as const),
})

const check = (recs: readonly Rec[], mode: 'open' | 'remote'): void => {
  const old = newDoc(100)
  writeOld(old, recs)
  const doc = newDoc(1)
  const invalid: InvalidEvent[] = []
  const onInvalid = (e: InvalidEvent): void => void invalid.push(e)
  let typed
  if (mode === 'open') {
    push(old, doc)
    typed = openTyped(doc, schema, { onInvalid })
  } else {
    typed = openTyped(doc, schema, { onInvalid })
    push(old, doc)
  }
  expect(typed.status).toBe('ready')
  const meta = doc.getMap(META_NAME)
  expect(meta.get('m:whiteboard/2')).toBe(true)
  expect(meta.get('v:2')).toBe(true)
  // a third peer decodes what the migration wrote as the same values
  const third = newDoc(3)
  push(doc, third)
  const shapes = doc.getMap<Y.Map<unknown>>('shapes')
  recs.forEach((rec, i) => {
    const id = `r${i}`
    const raw = shapes.get(id) as Y.Map<unknown>
    const migrated = raw.has('rotation')
    const where = `${id}: color ${rec.color.label}, extra ${rec.extra?.label ?? 'none'} (${mode})`
    if (migrated) {
      // whole: every field of the patch written
      expect(raw.has('color'), where).toBe(false)
      expect(raw.has('fill'), where).toBe(true)
      expect(raw.has('extraCopy'), where).toBe(raw.has('extra'))
      const copied = third.getMap<Y.Map<unknown>>('shapes').get(id)
      expect(copied?.get('extraCopy'), where).toEqual(raw.get('extra'))
      expect(copied?.get('fill'), where).toEqual(raw.get('fill'))
    } else {
      // untouched, and reported
      expect([...raw.keys()].sort(), where).toEqual(
        ['color', 'kind', 'label', 'points', 'x', 'y', ...(rec.extra ? ['extra'] : [])].sort(),
      )
      expect(
        invalid.some((e) => e.path[0] === 'shapes' && e.path[1] === id),
        where,
      ).toBe(true)
    }
    const cls = classOf(rec)
    if (cls === 'clean') {
      expect(migrated, where).toBe(true)
      expect(typed.root.shapes.get(id), where).toMatchObject({ fill: raw.get('fill'), rotation: 0 })
    }
    if (cls === 'junk') {
      expect(migrated, where).toBe(false)
      expect(typed.root.shapes.get(id), where).toBeUndefined()
    }
  })
  // the old peer takes the migration back without trouble, and re-opening writes nothing
  push(doc, old)
  typed.destroy()
  const updates: unknown[] = []
  doc.on('update', (u: Uint8Array) => updates.push(u))
  expect(openTyped(doc, schema).status).toBe('ready')
  expect(updates).toHaveLength(0)
}

describe('migrations meeting adversarial values (issue 12.2)', () => {
  it('SCHEMA-4.9 SCHEMA-3.1 adversarial values from a plain-Yjs peer: no throw, marked, each record whole or untouched and reported', () => {
    fc.assert(
      fc.property(scenarioArb, ({ recs, mode }) => check(recs, mode)),
      { numRuns: 150 },
    )
  })
})
