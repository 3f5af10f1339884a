/**
 * Property tests: random schemas x random concurrent edits, junk from misbehaving peers and migrations, exchanged
 * between 2-4 docs in random order.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import {
  addField,
  chainSteps,
  defineSchema,
  openTyped,
  renameField,
  s,
  type FieldDef,
  type Fields,
  type RecordField,
  type Schema,
  type TypedDoc,
} from '../../src/index.js'
import { contentOf, newDoc, push, syncAll } from './fixtures.js'

const valueKinds = ['string', 'number', 'boolean', 'enum', 'nullableNumber', 'optString'] as const
const allKinds = [...valueKinds, 'keepNumber', 'text', 'listNumber'] as const
type Kind = (typeof allKinds)[number]

const declare = (k: Kind): FieldDef => {
  switch (k) {
    case 'string':
      return s.string()
    case 'number':
      return s.number()
    case 'boolean':
      return s.boolean()
    case 'enum':
      return s.enum(['a', 'b', 3])
    case 'nullableNumber':
      return s.number().nullable()
    case 'optString':
      return s.string().optional('dflt')
    case 'keepNumber':
      return s.number().keepConflicts().optional(0)
    case 'text':
      return s.text()
    case 'listNumber':
      return s.list(s.number())
  }
}

const valueArb = (k: Kind): fc.Arbitrary<unknown> => {
  switch (k) {
    case 'string':
    case 'optString':
      return fc.string({ maxLength: 4 })
    case 'number':
    case 'keepNumber':
      return fc.integer({ min: -5, max: 5 })
    case 'boolean':
      return fc.boolean()
    case 'enum':
      return fc.constantFrom('a', 'b', 3)
    case 'nullableNumber':
      return fc.option(fc.integer(), { nil: null })
    case 'text':
      return fc.string({ maxLength: 3 })
    case 'listNumber':
      return fc.array(fc.integer(), { maxLength: 3 })
  }
}

const junkArb = fc.oneof(
  fc.string({ maxLength: 3 }),
  fc.double(),
  fc.constant(null),
  fc.boolean(),
  fc.dictionary(fc.string({ maxLength: 2 }), fc.integer(), { maxKeys: 2, noNullPrototype: true }),
  fc.array(fc.integer(), { maxLength: 2 }),
)

/** Builds v1 (fields f0..fn) and v2 (f0 renamed g0, a required `added` filled in by the migration). */
const schemasFor = (kinds: readonly Kind[]) => {
  const v1Fields: Record<string, FieldDef> = {}
  kinds.forEach((k, i) => (v1Fields[`f${i}`] = declare(k)))
  const { f0, ...rest } = v1Fields
  const v2Fields = { g0: f0 as FieldDef, ...rest, added: s.number() }
  const meta = s.record({ count: s.number().keepConflicts().optional(0) })
  const v1 = defineSchema({ name: 'p', version: 1, root: { items: s.collection(v1Fields as Fields), meta } })
  const v2 = defineSchema({
    name: 'p',
    version: 2,
    root: { items: s.collection(v2Fields as Fields), meta },
    migrations: [
      { id: 'p/2', records: { items: chainSteps(renameField('f0', 'g0'), addField('added', 7)) } },
    ],
  })
  return { v1, v2 }
}

type Op =
  | { t: 'insert'; peer: number; values: readonly unknown[] }
  | { t: 'update'; peer: number; rec: number; field: number; value: unknown }
  | { t: 'text'; peer: number; rec: number; str: string }
  | { t: 'push'; peer: number; rec: number; items: number[] }
  | { t: 'delete'; peer: number; rec: number }
  | { t: 'junk'; peer: number; rec: number; field: number; value: unknown }
  | { t: 'junkRecord'; peer: number; rec: number }
  | { t: 'count'; peer: number; value: number }
  | { t: 'sync'; from: number; to: number }
  | { t: 'upgrade'; peer: number }

const scenarioArb = fc
  .record({
    kinds: fc.tuple(fc.constantFrom(...valueKinds), fc.array(fc.constantFrom(...allKinds), { maxLength: 4 })),
    peers: fc.integer({ min: 2, max: 4 }),
  })
  .chain(({ kinds: [k0, more], peers }) => {
    const kinds: Kind[] = [k0, ...more]
    const peer = fc.integer({ min: 0, max: peers - 1 })
    const rec = fc.nat(30)
    const field = fc.nat(kinds.length)
    const op: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({
          t: fc.constant('insert' as const),
          peer,
          values: fc.tuple(...kinds.map(valueArb)),
        }),
      },
      {
        weight: 4,
        arbitrary: fc
          .record({ peer, rec, field: fc.nat(kinds.length - 1) })
          .chain((o) =>
            valueArb(kinds[o.field] as Kind).map((value) => ({ t: 'update' as const, ...o, value })),
          ),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          t: fc.constant('text' as const),
          peer,
          rec,
          str: fc.string({ minLength: 1, maxLength: 3 }),
        }),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          t: fc.constant('push' as const),
          peer,
          rec,
          items: fc.array(fc.integer(), { minLength: 1, maxLength: 2 }),
        }),
      },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('delete' as const), peer, rec }) },
      {
        weight: 2,
        arbitrary: fc.record({ t: fc.constant('junk' as const), peer, rec, field, value: junkArb }),
      },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('junkRecord' as const), peer, rec }) },
      {
        weight: 2,
        arbitrary: fc.record({
          t: fc.constant('count' as const),
          peer,
          value: fc.integer({ min: 0, max: 9 }),
        }),
      },
      { weight: 5, arbitrary: fc.record({ t: fc.constant('sync' as const), from: peer, to: peer }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant('upgrade' as const), peer }) },
    )
    return fc.record({
      kinds: fc.constant(kinds),
      versions: fc.array(fc.constantFrom(1, 2), { minLength: peers, maxLength: peers }),
      ops: fc.array(op, { maxLength: 60 }),
    })
  })

type AnyTyped = TypedDoc<Schema>

/** Whether a record read through the schema is well-typed (independent of the reader's code paths). */
const conforms = (def: RecordField<Fields>, row: Record<string, unknown>): boolean =>
  def.entries.every(([key, f]) => {
    const v = row[key]
    if (f.kind === 'value') return f.test(v)
    if (f.kind === 'text') return v instanceof Y.Text
    if (f.kind === 'list')
      return Array.isArray(v) && v.every((x) => f.item.kind === 'value' && f.item.test(x))
    return false
  })

const run = (kinds: readonly Kind[], versions: readonly number[], ops: readonly Op[]): void => {
  const { v1, v2 } = schemasFor(kinds)
  const docs = versions.map((_, i) => newDoc(i + 1))
  const typed: AnyTyped[] = versions.map(
    (v, i) => openTyped(docs[i] as Y.Doc, (v === 2 ? v2 : v1) as Schema) as AnyTyped,
  )
  const inserted: string[] = []
  const gone = new Set<string>()
  const junked = new Set<string>()
  const pushes = new Map<string, number>()
  const chars = new Map<string, number>()
  const junkKeys = new Map<string, boolean>()
  const textField = kinds.findIndex((k) => k === 'text')
  const listField = kinds.findIndex((k) => k === 'listNumber')
  const fieldName = (t: AnyTyped, i: number): string => (i === 0 && t.schema.version === 2 ? 'g0' : `f${i}`)
  const items = (t: AnyTyped) =>
    t.root.items as unknown as {
      insert(v: unknown, o: { id: string }): { ok: boolean }
      update(id: string, p: unknown): { ok: boolean }
      delete(id: string): { ok: boolean }
      record(id: string):
        | {
            text(k: string): Y.Text | undefined
            list(k: string): { push(...x: number[]): { ok: boolean } } | undefined
          }
        | undefined
      get(id: string): Record<string, unknown> | undefined
      values(): Array<Record<string, unknown>>
    }

  for (const op of ops) {
    if (op.t === 'sync') {
      if (op.from !== op.to) push(docs[op.from] as Y.Doc, docs[op.to] as Y.Doc)
      continue
    }
    const t = typed[op.peer] as AnyTyped
    const doc = docs[op.peer] as Y.Doc
    const id =
      op.t === 'insert'
        ? `p${op.peer}-${inserted.length}`
        : (inserted[('rec' in op ? op.rec : 0) % Math.max(1, inserted.length)] ?? 'none')
    switch (op.t) {
      case 'insert': {
        const input: Record<string, unknown> = {}
        kinds.forEach((_, i) => (input[fieldName(t, i)] = op.values[i]))
        if (t.schema.version === 2) input.added = 1
        if (items(t).insert(input, { id }).ok) {
          inserted.push(id)
          if (textField >= 0) chars.set(id, String(op.values[textField]).length)
          if (listField >= 0) pushes.set(id, (op.values[listField] as unknown[]).length)
        }
        break
      }
      case 'update':
        if (kinds[op.field] === 'text' || kinds[op.field] === 'listNumber') break
        items(t).update(id, { [fieldName(t, op.field)]: op.value })
        break
      case 'text': {
        const text = textField >= 0 && t.writable ? items(t).record(id)?.text(`f${textField}`) : undefined
        if (text) {
          text.insert(0, op.str)
          chars.set(id, (chars.get(id) ?? 0) + op.str.length)
        }
        break
      }
      case 'push': {
        const list = listField >= 0 ? items(t).record(id)?.list(`f${listField}`) : undefined
        if (list?.push(...op.items).ok) pushes.set(id, (pushes.get(id) ?? 0) + op.items.length)
        break
      }
      case 'delete':
        if (items(t).delete(id).ok) gone.add(id)
        break
      case 'junk': {
        const rec = doc.getMap<unknown>('items').get(id)
        if (!(rec instanceof Y.Map)) break
        const key = op.field < kinds.length ? fieldName(t, op.field) : 'junk'
        rec.set(key, op.value)
        if (key === 'junk') junkKeys.set(id, true)
        else junked.add(id)
        break
      }
      case 'junkRecord':
        if (doc.getMap('items').has(id)) {
          doc.getMap('items').set(id, 'not a record')
          gone.add(id)
        }
        break
      case 'count':
        ;(t.root.meta as unknown as { set(k: string, v: number): unknown }).set('count', op.value)
        break
      case 'upgrade':
        if (t.schema.version === 1) {
          t.destroy()
          typed[op.peer] = openTyped(doc, v2 as Schema) as AnyTyped
        }
        break
    }
  }

  syncAll(docs)

  // converged
  const first = JSON.stringify(contentOf(docs[0] as Y.Doc))
  for (const d of docs) expect(JSON.stringify(contentOf(d))).toBe(first)
  // invalid remote data never escapes the typed API
  for (const t of typed) {
    const def = (t.schema.root.items as { record: RecordField<Fields> }).record
    for (const row of items(t).values()) expect(conforms(def, row)).toBe(true)
    expect(typeof (t.root.meta as unknown as { get(k: string): unknown }).get('count')).toBe('number')
    expect(() => t.validate()).not.toThrow()
  }
  // raw data is never lost: records, text, list items, undeclared fields
  const raw = (docs[0] as Y.Doc).getMap<unknown>('items')
  const anyV2 = typed.some((t) => t.schema.version === 2)
  for (const id of inserted) {
    if (gone.has(id)) continue
    const rec = raw.get(id)
    expect(rec).toBeInstanceOf(Y.Map)
    const map = rec as Y.Map<unknown>
    if (junkKeys.has(id)) expect(map.has('junk')).toBe(true)
    if (junked.has(id)) continue
    if (textField >= 0) expect((map.get(`f${textField}`) as Y.Text).length).toBe(chars.get(id))
    if (listField >= 0) expect((map.get(`f${listField}`) as Y.Array<unknown>).length).toBe(pushes.get(id))
    if (anyV2) {
      // a v2 peer migrated every record, including v1 writes that arrived late
      expect(map.has('f0')).toBe(false)
      const v2peer = typed.find((t) => t.schema.version === 2) as AnyTyped
      expect(items(v2peer).get(id)).toBeDefined()
    }
  }
  for (const t of typed) t.destroy()
}

describe('schema properties', () => {
  it('SCHEMA-4.5 SCHEMA-3.1 SCHEMA-3.4 random schemas, edits, junk and migrations converge; nothing escapes or is lost', () => {
    fc.assert(
      fc.property(scenarioArb, ({ kinds, versions, ops }) => run(kinds, versions, ops)),
      { numRuns: Number(process.env.SCHEMA_RUNS ?? 200) },
    )
  }, 600_000)

  it('SCHEMA-5.2 every value of a round of concurrent writes is the final value or in the conflict log', () => {
    const ledger = defineSchema({
      name: 'l',
      version: 1,
      root: { m: s.record({ v: s.number().keepConflicts().optional(0) }) },
    })
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 4 }),
        fc.array(fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.tuple(fc.nat(3), fc.nat(3)), { maxLength: 6 }),
        (n, rounds, partial) => {
          const docs = Array.from({ length: n }, (_, i) => newDoc(i + 1))
          const typed = docs.map((d) => openTyped(d, ledger))
          syncAll(docs)
          const perRound: number[][] = []
          let next = 1
          for (const writers of rounds) {
            const round: number[] = []
            typed.forEach((t, i) => {
              if (!writers[i]) return
              t.root.m.set('v', next)
              round.push(next++)
            })
            perRound.push(round)
            // partial exchanges in random order, then everyone syncs
            for (const [a, b] of partial)
              if (a < n && b < n && a !== b) push(docs[a] as Y.Doc, docs[b] as Y.Doc)
            syncAll(docs)
          }
          const finals = new Set(typed.map((t) => t.root.m.get('v')))
          expect(finals.size).toBe(1)
          const logged = (typed[0]?.conflicts.list() ?? []).map((c) => c.value as number)
          expect(new Set(logged).size).toBe(logged.length)
          // the writes of one round are concurrent: all but the round's winner are logged
          for (const round of perRound) {
            const unlogged = round.filter((w) => !logged.includes(w))
            expect(unlogged).toHaveLength(round.length === 0 ? 0 : 1)
          }
          const last = perRound.filter((r) => r.length > 0).at(-1)
          if (last) expect(last).toContain([...finals][0])
          expect(logged).toHaveLength(perRound.reduce((sum, r) => sum + Math.max(0, r.length - 1), 0))
          for (const t of typed) expect(t.conflicts.list()).toEqual(typed[0]?.conflicts.list())
        },
      ),
      { numRuns: Number(process.env.SCHEMA_RUNS ?? 60) },
    )
  }, 600_000)
})
