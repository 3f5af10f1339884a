/**
 * RULES-4.8: whether an update needs clocks a view lacks is read from a skim of the update (its structs' clock runs and
 * its delete set), without decoding its content; the same answer as decoding it with Yjs.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { validateUpdate } from '../../src/protocol/validateUpdate.js'
import { defineRules } from '../../src/schema/rules.js'
import { RulesView } from '../../src/rules/RulesView.js'
import { defineSchema } from '../../src/schema/defineSchema.js'
import { s } from '../../src/schema/s.js'

/** The runs of contiguous structs (a skip ends one) as Yjs decodes them: `client, first clock, end` triples. */
const decodedRuns = (update: Uint8Array): number[] => {
  const runs: number[] = []
  let open: [number, number, number] | null = null
  for (const struct of Y.decodeUpdate(update).structs) {
    const { client, clock } = struct.id
    if (open && (struct instanceof Y.Skip || open[0] !== client || open[2] !== clock)) {
      runs.push(...open)
      open = null
    }
    if (struct instanceof Y.Skip) continue
    if (open) open[2] = clock + struct.length
    else open = [client, clock, clock + struct.length]
  }
  if (open) runs.push(...open)
  return runs
}

/** An edit of one writer: values of every kind Yjs stores, large ones included. */
const edit = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), key: fc.string({ maxLength: 3 }), value: fc.jsonValue() }),
  fc.record({ kind: fc.constant('big' as const), size: fc.integer({ min: 1, max: 70_000 }) }),
  fc.record({ kind: fc.constant('text' as const), text: fc.string({ minLength: 1, maxLength: 20 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 5 }) }),
  fc.record({ kind: fc.constant('binary' as const), bytes: fc.uint8Array({ maxLength: 20 }) }),
)

describe('validateUpdate skim: clocks and deletions without decoding (RULES-4.8)', () => {
  it('RULES-4.8: the skim finds the clock runs and delete set Yjs decodes, merged updates with gaps included', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), edit), { minLength: 1, maxLength: 25 }),
        fc.array(fc.boolean(), { minLength: 25, maxLength: 25 }),
        (edits, pick) => {
          const docs = [0, 1, 2].map((i) => {
            const doc = new Y.Doc()
            doc.clientID = 100 + i
            return doc
          })
          const updates: Uint8Array[] = []
          for (const d of docs) d.on('update', (u: Uint8Array) => updates.push(u))
          for (const [who, e] of edits) {
            const doc = docs[who] as Y.Doc
            // Writers see each other's updates so far (their edits refer to each other's items).
            for (const u of updates) Y.applyUpdate(doc, u)
            const text = doc.getText('t')
            if (e.kind === 'set') doc.getMap('m').set(e.key, e.value)
            else if (e.kind === 'big') doc.getMap('m').set('big', 'x'.repeat(e.size))
            else if (e.kind === 'text') text.insert(0, e.text)
            else if (e.kind === 'binary') doc.getArray('a').push([e.bytes])
            else if (text.length > 0)
              text.delete(e.at % text.length, Math.min(e.len, text.length - (e.at % text.length)))
          }
          if (updates.length === 0) return
          // One update, a merge of all, and a merge of some (gaps become skip structs).
          const some = updates.filter((_, i) => pick[i % pick.length])
          for (const u of [updates[0] as Uint8Array, Y.mergeUpdates(updates), Y.mergeUpdates(some)]) {
            const skimmed = validateUpdate(u, { skim: true, clocks: true, deleteSet: true })
            expect(skimmed.clocks).toEqual(decodedRuns(u))
            const ds = new Map<number, Array<{ clock: number; len: number }>>()
            for (const [client, ranges] of Y.decodeUpdate(u).ds.clients)
              ds.set(
                client,
                ranges.map((r) => ({ clock: r.clock, len: r.len })),
              )
            expect(skimmed.deleteSet ?? new Map()).toEqual(ds)
          }
        },
      ),
      { numRuns: 60 },
    )
  })

  it('RULES-4.8: a 256 KB value is skimmed, not decoded: its skip check refuses a gap and passes what the view can take', () => {
    const board = defineSchema({
      name: 'b',
      version: 1,
      root: { shapes: s.collection({ x: s.number(), label: s.string() }) },
    })
    const view = new RulesView(defineRules(board, { collections: { shapes: {} } }), new Uint8Array([0, 0]))
    const writer = new Y.Doc()
    const first = Y.encodeStateAsUpdate(writer)
    // A declared string field, as a writer the rules allow writes it (RULES-2.8 refuses undeclared content).
    const shape = new Y.Map<unknown>()
    writer.getMap('shapes').set('a', shape)
    shape.set('x', 1)
    shape.set('label', 'J'.repeat(256 * 1024))
    const big = Y.encodeStateAsUpdate(writer, Y.encodeStateVector(new Y.Doc()))
    const sv = Y.encodeStateVector(writer)
    shape.set('label', 'K'.repeat(256 * 1024))
    const next = Y.encodeStateAsUpdate(writer, sv)
    expect(first.byteLength).toBeLessThan(big.byteLength)
    // `next` starts past what the view has of the writer (it never got `big`): refused unapplied.
    expect(view.skips(next)).toBe(true)
    expect(view.skips(big)).toBe(false)
    expect(view.check(big, { subject: undefined, claims: {} }).ok).toBe(true)
    expect(view.skips(next)).toBe(false)
  })
})
