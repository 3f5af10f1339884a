import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { defineRules, unique, type Rules } from '@weft/core/rules'
import { seededRandom } from '@weft/core/testing'
import { MemoryRelayTransport } from './memoryRelayTransport.js'
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

describe('honest writers breaking rules on several records at once (RULES-5.13)', () => {
  // Offline: a writer sometimes edits offline, its transactions reaching the relay in one step 2 (RULES-5.16).
  const runs = [21, 22, 23, 24, 25, 26, 27, 28].map((seed) => ({ seed, offline: false }))
  runs.push(...[31, 32, 33, 34, 35, 36].map((seed) => ({ seed, offline: true })))
  for (const { seed, offline } of runs) {
    it(`RULES-5.13 RULES-5.12 RULES-5.16: seed ${seed}${offline ? ' (offline rounds)' : ''}: every valid change of an honest writer reaches the relay, whatever else its updates broke`, async () => {
      const rnd = seededRandom(seed)
      const int = (n: number) => Math.floor(rnd() * n)
      const r = startRuledRelay()
      cleanups.push(r.close)
      const room = 'board-honest'
      // Locked shapes of another owner, which the honest writers move (refused) but never own.
      const keeper = await ruledClient(r, room, 'keeper', cleanups)
      const locked = ['locked-0', 'locked-1', 'locked-2']
      for (const [i, id] of locked.entries())
        keeper.typed.root.shapes.insert({ name: id, x: 10 * i, author: 'keeper' }, { id })
      await settled(keeper.session)
      const clients = []
      for (const subject of ['alice', 'bob', 'carol']) {
        const c = await ruledClient(r, room, subject, cleanups)
        await until(c.doc, () => locked.every((id) => shapesOf(c.doc)[id] !== undefined))
        let rejected = 0
        c.session.on('rejected', () => void rejected++)
        // What the relay must hold of this writer's own shapes: every valid change, in order.
        const model = new Map<string, Shape>()
        clients.push({ subject, ...c, model, rejected: () => rejected })
      }
      let step = 0
      for (let round = 0; round < 6; round++) {
        for (const c of clients) {
          if (rnd() < 0.3) continue
          const away = offline && rnd() < 0.5
          if (away) {
            c.session.removeTransport(c.transport)
            c.transport.destroy()
          }
          for (let t = 1 + int(offline ? 4 : 2); t > 0; t--) {
            const shapes = c.typed.root.shapes
            // One transaction (one update) of 1-4 changes to different records, valid and refused ones mixed.
            const used = new Set<string>()
            const pending: Array<() => void> = []
            c.doc.transact(() => {
              for (let o = 1 + int(4); o > 0; o--) {
                const own = [...c.model.keys()].filter((id) => !used.has(id))
                const target = own[int(own.length)]
                const other = locked.filter((id) => !used.has(id))[int(locked.length)]
                const id = `${c.subject}-${++step}`
                const op = int(8)
                if (op === 0 || target === undefined) {
                  const shape = { name: id, x: int(101), author: c.subject }
                  shapes.insert(shape, { id })
                  pending.push(() => c.model.set(id, { ...shape, label: '' }))
                } else if (op === 1) {
                  const x = int(101)
                  used.add(target)
                  shapes.update(target, { x })
                  pending.push(() => c.model.set(target, { ...(c.model.get(target) as Shape), x }))
                } else if (op === 2) {
                  used.add(target)
                  shapes.delete(target)
                  pending.push(() => c.model.delete(target))
                } else if (op === 3) {
                  // Refused: x.max. Also on a shape whose valid change of an earlier transaction is not at the relay
                  // yet: that value is kept and re-sent (RULES-5.16).
                  used.add(target)
                  shapes.update(target, { x: 150 })
                } else if (op === 4) {
                  shapes.insert({ name: 'locked-0', x: 1, author: c.subject }, { id }) // refused: the name is taken
                } else if (op === 5) {
                  shapes.insert({ name: id, x: 1, author: 'mallory' }, { id }) // refused: not the writer's
                } else if (other !== undefined) {
                  // Refused: not the owner. (Not a deletion: another writer's restore of the same shape, arriving
                  // after it, lands in the deleted original and is lost to the copy, a known limit, docs/guides/rules.md.)
                  used.add(other)
                  shapes.update(other, { x: int(101) })
                }
              }
            })
            for (const apply of pending) apply()
          }
          if (away) {
            const back = new MemoryRelayTransport(r.connect(room, c.subject))
            cleanups.push(() => back.destroy())
            const synced = new Promise<void>((resolve) => {
              const fn = ({ transport }: { transport: unknown }) => {
                if (transport !== back) return
                c.session.off('peer-synced', fn)
                resolve()
              }
              c.session.on('peer-synced', fn)
            })
            c.session.addTransport(back)
            c.transport = back
            await synced
          }
        }
        await Promise.all(clients.map((c) => settled(c.session)))
        const stored = shapesOf(await r.stored(room))
        // Every valid change of each honest writer is at the relay; nothing it wrote against the rules is.
        for (const c of clients) {
          const held = Object.fromEntries(Object.entries(stored).filter(([, s]) => s.author === c.subject))
          expect(held, c.subject).toEqual(Object.fromEntries(c.model))
        }
        for (const [i, id] of locked.entries())
          expect(stored[id], id).toEqual({ name: id, x: 10 * i, author: 'keeper', label: '' })
        expect(Object.values(stored).filter((s) => s.author === 'mallory')).toEqual([])
        const want = JSON.stringify(Object.entries(stored).sort(([a], [b]) => (a < b ? -1 : 1)))
        await Promise.all(clients.map((c) => until(c.doc, () => canonical(c.doc) === want)))
      }
      for (const c of clients) expect(c.transport.client.closeInfo).toBeNull()
      expect(clients.reduce((n, c) => n + c.rejected(), 0)).toBeGreaterThan(0)
    })
  }
})
