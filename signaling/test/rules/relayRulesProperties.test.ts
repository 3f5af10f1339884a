import { afterEach, describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { decodeMessage } from '@weft/core/protocol'
import { decodedAll, nextOf } from '../relay/unit/memoryRelay.js'
import { startRuledRelay, Writer } from './relayRules.js'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const fn of cleanups.splice(0)) await fn()
})

/** A small seeded generator (mulberry32), so that a failing seed can be replayed. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

type Shapes = Record<string, { name: string; x: number; author: string }>

/** The relay's verdict on update `seq` of `w`: its ack, or its rejection. */
const verdict = async (w: Writer, seq: number): Promise<'ack' | 'rejected'> => {
  const m = decodeMessage(
    await w.client.next((bytes) => {
      const d = decodeMessage(bytes)
      return (d.type === 'ack' && d.seq >= seq) || (d.type === 'rejected' && d.seq === seq)
    }),
  )
  return m.type === 'ack' ? 'ack' : 'rejected'
}

describe('rules under random edits (RULES-4.2, RULES-3.3)', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    it(`RULES-4.2: seed ${seed}: the store satisfies the rules, a reader sees exactly the store`, async () => {
      const rnd = random(seed)
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T
      const r = startRuledRelay()
      cleanups.push(r.close)
      const room = 'board-p'
      const reader = new Writer(r.connect(room, 'reader'))
      await nextOf(reader.client, 'sync-step2')
      const subjects = ['alice', 'bob', 'carol']
      let clientId = 1000
      const writers = subjects.map((s) => new Writer(r.connect(room, s), { clientID: ++clientId }))
      const verdicts = { ack: 0, rejected: 0 }
      for (let step = 0; step < 30; step++) {
        const i = Math.floor(rnd() * writers.length)
        const subject = subjects[i] as string
        const w = writers[i] as Writer
        const own = w.typed.root.shapes.ids()
        const x = Math.floor(rnd() * 160) - 30
        const seq =
          own.length > 0 && rnd() < 0.4
            ? w.write((shapes) => shapes.update(pick(own), { x }))
            : w.write((shapes) =>
                shapes.insert(
                  { name: `n${Math.floor(rnd() * 8)}`, x, author: rnd() < 0.9 ? subject : 'mallory' },
                  { id: `${subject}-${step}` },
                ),
              )
        const v = await verdict(w, seq)
        verdicts[v]++
        // A refused writer goes on under a new client id, from the relay's state (what a rollback gives it).
        if (v === 'rejected') {
          const fresh = new Writer(r.connect(room, subject), { clientID: ++clientId })
          await fresh.synced()
          writers[i] = fresh
        }
      }
      expect(verdicts.ack).toBeGreaterThan(0)
      expect(verdicts.rejected).toBeGreaterThan(0)
      const stored = (await r.stored(room)).getMap('shapes').toJSON() as Shapes
      const names = new Set<string>()
      for (const [id, shape] of Object.entries(stored)) {
        expect(shape.x, id).toBeGreaterThanOrEqual(0)
        expect(shape.x, id).toBeLessThanOrEqual(100)
        expect(id.startsWith(`${shape.author}-`), id).toBe(true)
        expect(names.has(shape.name), `${id} ${shape.name}`).toBe(false)
        names.add(shape.name)
      }
      // Everything forwarded to the reader, and nothing else, is what the store holds.
      const seen = new Y.Doc()
      for (const m of decodedAll(reader.client))
        if (m.type === 'sync-step2' || m.type === 'sync-update') Y.applyUpdate(seen, m.update)
      expect(seen.getMap('shapes').toJSON()).toEqual(stored)
    })
  }
})
