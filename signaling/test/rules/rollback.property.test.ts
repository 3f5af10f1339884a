import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { defineRules, unique, type Rules } from '@weft/core/rules'
import { seededRandom } from '@weft/core/testing'
import { board, ruledClient, settled, startRuledRelay, until } from './relayRules.js'

const cleanups: Array<() => Promise<void> | void> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
})

type Shape = { name: string; x: number; author: string; label?: string }
const shapesOf = (doc: Y.Doc) => doc.getMap('shapes').toJSON() as Record<string, Shape>
/** The shapes of `doc` in a canonical form (ids sorted). */
const canonical = (doc: Y.Doc): string =>
  JSON.stringify(Object.entries(shapesOf(doc)).sort(([a], [b]) => (a < b ? -1 : 1)))

/** A random rule set over the board schema. */
const randomRules = (
  rnd: () => number,
): { rules: Rules; range: boolean; owner: boolean; unique: boolean; label: boolean } => {
  const range = rnd() < 0.6
  const owner = rnd() < 0.6
  const label = rnd() < 0.5
  const uniqueName = rnd() < 0.5
  const rules = defineRules(board, {
    collections: {
      shapes: {
        ...(owner ? { owner: 'author' } : {}),
        fields: {
          ...(range ? { x: { min: 0, max: 100 } } : {}),
          ...(label ? { label: { maxLength: 6 } } : {}),
        },
      },
    },
    constraints: uniqueName ? [unique('shapes', 'name')] : [],
  })
  return { rules, range, owner, unique: uniqueName, label }
}

describe('rollback under random edits and rules (RULES-5)', () => {
  for (const seed of [11, 12, 13, 14, 15, 16, 17, 18]) {
    it(`RULES-5.1 RULES-5.4: seed ${seed}: the relay keeps its rules, every client converges to it, nothing refused reaches anyone`, async () => {
      const rnd = seededRandom(seed)
      const pick = <T>(xs: readonly T[]): T | undefined => xs[Math.floor(rnd() * xs.length)]
      const ruled = randomRules(rnd)
      const r = startRuledRelay({ 'board-*': ruled.rules })
      cleanups.push(r.close)
      const room = 'board-p'
      const subjects = ['alice', 'bob', 'carol']
      const clients = []
      for (const subject of subjects) {
        const { doc, typed, session, transport } = await ruledClient(r, room, subject, cleanups)
        let rejected = 0
        session.on('rejected', ({ lost }) => {
          rejected++
          // Everything the refused update overwrote or deleted was restorable (kept from garbage collection).
          expect(lost).toEqual([])
        })
        clients.push({ subject, doc, typed, session, transport, rejected: () => rejected })
      }
      let step = 0
      let previous = new Map<number, number>()
      for (let round = 0; round < 8; round++) {
        // A burst: some clients make 1-3 changes each, without waiting for the relay.
        for (const c of clients) {
          if (rnd() < 0.4) continue
          const edits = 1 + Math.floor(rnd() * 3)
          for (let e = 0; e < edits; e++) {
            const shapes = c.typed.root.shapes
            const ids = shapes.ids()
            const target = pick(ids)
            const op = rnd()
            step++
            if (op < 0.4 || target === undefined) {
              shapes.insert(
                {
                  name: `n${Math.floor(rnd() * 5)}`,
                  x: Math.floor(rnd() * 160) - 30,
                  author: rnd() < 0.85 ? c.subject : 'mallory',
                  label: 'hi',
                },
                { id: `${c.subject}-${step}` },
              )
            } else if (op < 0.7) shapes.update(target, { x: Math.floor(rnd() * 160) - 30 })
            else if (op < 0.85) shapes.delete(target)
            else (shapes.get(target)?.label as Y.Text | undefined)?.insert(0, 'abc')
          }
        }
        await Promise.all(clients.map((c) => settled(c.session)))
        const stored = await r.stored(room)
        const want = canonical(stored)
        // Every client converges to what the relay stored (a rolled-back writer included).
        await Promise.all(clients.map((c) => until(c.doc, () => canonical(c.doc) === want)))
        await Promise.all(clients.map((c) => settled(c.session)))
        const final = await r.stored(room)
        const sv = Y.decodeStateVector(Y.encodeStateVector(final))
        // Nothing refused reached anyone: every client's state vector is the relay's (a writer's refused clocks
        // were removed from its own document too).
        for (const c of clients) expect(Y.decodeStateVector(Y.encodeStateVector(c.doc))).toEqual(sv)
        // An accepted change is never lost: the relay's clocks only grow.
        for (const [client, clock] of previous) expect(sv.get(client) ?? 0).toBeGreaterThanOrEqual(clock)
        previous = sv
        // The relay's state keeps the rules.
        const names = new Set<string>()
        for (const [id, shape] of Object.entries(shapesOf(final))) {
          if (ruled.range) expect(shape.x, id).toBeGreaterThanOrEqual(0)
          if (ruled.range) expect(shape.x, id).toBeLessThanOrEqual(100)
          if (ruled.owner) expect(id.startsWith(`${shape.author}-`), id).toBe(true)
          if (ruled.label) expect((shape.label ?? '').length, id).toBeLessThanOrEqual(6)
          if (ruled.unique) expect(names.has(shape.name), `${id} ${shape.name}`).toBe(false)
          names.add(shape.name)
        }
      }
      for (const c of clients) expect(c.transport.client.closeInfo).toBeNull()
      expect(clients.reduce((n, c) => n + c.rejected(), 0)).toBeGreaterThan(0)
    })
  }
})
